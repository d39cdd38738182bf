"""`tsukeku arena …`: the booth's votes for training — export them as preference pairs."""

from __future__ import annotations

import json
from pathlib import Path

import typer

arena_app = typer.Typer(help="The arena's votes as training data.", no_args_is_help=True)


@arena_app.command("export-preferences")
def export_preferences_cmd(
    db: str = typer.Option(..., "--db", help="the arena's SQLite file (or a database URL: "
                           "postgresql://…)"),
    out: Path = typer.Option(..., "--out", "-o", help="preference pairs (JSON Lines) to write"),
    template: str | None = typer.Option(None, "--template",
                                        help="prompt template of the model to tune: completion, "
                                             "instruction, instruction-rinna"),
    run: Path | None = typer.Option(None, "--run", help="the training run to tune (its prompt.json)"),
) -> None:
    """Decided votes (a or b; ties and both_bad left out) as prompt/chosen/rejected JSON Lines,
    the format TRL's preference trainers read (`tsukeku train --method dpo --preferences`)."""
    from tsukeku.arena.preferences import export_preferences, template_for
    from tsukeku.arena.store import ArenaStore
    from tsukeku.errors import InputError

    if "://" not in db and not Path(db).is_file():
        raise InputError(f"{db} does not exist; give the arena's SQLite file (--db)")
    tpl = template_for(template, run)
    store = ArenaStore(db)
    try:
        counts = export_preferences(store, tpl, out)
    finally:
        store.close()
    typer.echo(json.dumps({"out": str(out), "template": tpl.name, **counts.to_dict()},
                          ensure_ascii=False))


def register(app: typer.Typer) -> None:
    app.add_typer(arena_app, name="arena")
