"""`tsukeku renga classify | check`: season words, topics and 切字 of verses; the rules of a
session (式目) over a chain (see docs/renga.md)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

renga_app = typer.Typer(
    name="renga",
    help="Renga knowledge: classify verses (season, 季語, topics, 切字), check a chain's rules.",
    no_args_is_help=True,
)


def _echo_json(obj: dict) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False))


@renga_app.command("classify")
def classify_cmd(
    verses: list[str] = typer.Argument(..., metavar="VERSE...", help="Verses; spaces separate ku."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per verse per line."),
) -> None:
    """Season, season words, topics and 切字 of each VERSE."""
    from tsukeku.errors import InputError
    from tsukeku.renga.classify import classify

    for text in verses:
        if not text.strip():
            raise InputError("an empty verse: give the verse text, ku separated by spaces")
        c = classify(text)
        if as_json:
            _echo_json(c.to_dict())
            continue
        kigo = "、".join(f"{k.word}({k.season})" for k in c.kigo) or "-"
        typer.echo(
            f"{c.text}\t{c.season}\t季語 {kigo}\t{'・'.join(c.topics) or '-'}\t"
            f"切字 {'・'.join(c.kireji) or '-'}"
        )


@renga_app.command("check")
def check_cmd(
    file: Path = typer.Argument(
        ...,
        help="A chain: JSON Lines verse records, corpus chains "
        "(each line a chain), or plain text, one verse per line.",
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON object (per chain)."),
    form: str = typer.Option("auto", "--form", help="auto, 歌仙, 半歌仙 or 百韻."),
    profile: str | None = typer.Option(
        None, "--profile", help="Rule profile: kasen, hankasen, hyakuin or a YAML file."
    ),
) -> None:
    """Check a chain against the rules of a session. Exit 0 without errors, 1 with errors."""
    from tsukeku.errors import InputError
    from tsukeku.renga.chainfile import read_chain_file
    from tsukeku.renga.check import check

    if form not in ("auto", "歌仙", "半歌仙", "百韻"):
        raise InputError(f"--form {form!r}: choose auto, 歌仙, 半歌仙 or 百韻")
    chains = read_chain_file(file)
    failed = False
    for chain in chains:
        f = chain.form if form == "auto" and chain.form and not profile else form
        report = check(chain.verses, f, profile=profile)
        failed |= not report.ok
        if as_json:
            obj = report.to_dict()
            if len(chains) > 1 or chain.id:
                obj = {"id": chain.id, **obj}
            _echo_json(obj)
            continue
        head = f"{chain.id + ': ' if chain.id else ''}{report.form} ({report.profile}), "
        typer.echo(
            f"{head}{report.verses} verses{'' if report.complete else ' (unfinished)'}: "
            f"{report.errors} error(s), {report.warnings} warning(s)"
        )
        for v in report.violations:
            where = ",".join(map(str, v.verses))
            typer.echo(f"  {v.severity:7} {v.rule:13} [{where}] {v.message}")
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(renga_app, name="renga")


def _register_play() -> None:
    from tsukeku.cli.play import play_cmd

    renga_app.command("play")(play_cmd)


_register_play()
