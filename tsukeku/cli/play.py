"""`tsukeku renga play`: a renga session in the terminal. People (`--human NAME`, who type their
verses on stdin) and models (of `--models FILE`) take turns through a 歌仙 or 半歌仙; the session
lives in the store like the booth's, and can be exported (`--out FILE`, JSON Lines chain).

At a person's turn a line is read: the verse (ku separated by spaces), or `/accept` (the terminal
holds the host's token: accept the verse just refused for a rule), `/back` (take back the last
verse), `/end` (end the session). An empty line or the end of input ends the session too, so
`printf '...' | tsukeku renga play ...` works in scripts.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import typer

_O = typer.Option


def play_cmd(
    form: str = _O("半歌仙", "--form", help="半歌仙 (18 verses) or 歌仙 (36)."),
    human: list[str] = _O([], "--human", help="A person at the table (repeat for several)."),
    models: Path | None = _O(None, "--models", help="Models file (YAML); its models take turns."),
    model: list[str] = _O([], "--model",
                          help="Which models of --models sit (repeat; default: the file's default)."),
    title: str = _O("", "--title", help="The session's title (a model's 発句 answers it)."),
    profile: str | None = _O(None, "--profile", help="Rule profile (default: the form's)."),
    db: str | None = _O(None, "--db", help="Store: a SQLite file or database URL (default: the "
                        "server's, TSUKEKU_DATABASE_URL or the arena file)."),
    out: Path | None = _O(None, "--out", help="Write the session as a JSON Lines chain here."),
    quiet: bool = _O(False, "--quiet", "-q", help="Print only the verses."),
) -> None:
    """Compose a renga in turns with people and models, in the terminal."""
    from rich.console import Console

    from tsukeku.errors import ConfigError, InputError
    from tsukeku.sessions import SessionService
    from tsukeku.store import open_store

    console = Console(highlight=False, quiet=False)
    registry = None
    names: list[str] = []
    if models is not None:
        from tsukeku.backends import load_models_file

        registry = load_models_file(models)
        names = model or [registry.default]
    elif model:
        raise ConfigError("--model names a model of a models file: give --models FILE too")
    if not human and not names:
        raise InputError("seat someone: --human NAME and/or --models FILE")
    people = [{"name": n, "kind": "human"} for n in human]
    seated = [{"kind": "model", "model": m} for m in names]
    participants = _alternate(people, seated)

    async def compose(name: str, request: Any) -> Any:
        assert registry is not None
        return await asyncio.to_thread(registry.get(name).compose, request)

    store = open_store(db)
    try:
        svc = SessionService(store.sessions, compose if registry else None,
                             models=registry.names() if registry else [])
        record = svc.create(title=title, form=form, profile=profile, participants=participants)
        _play(console, svc, record, quiet)
        final = store.sessions.get_session(record.id)
        if out is not None:
            from tsukeku.io import write_text_atomic
            from tsukeku.sessions.export import to_jsonl

            write_text_atomic(out, to_jsonl(final))
            if not quiet:
                console.print(f"written {out}")
    finally:
        store.close()


def _alternate(people: list[dict], models: list[dict]) -> list[dict]:
    """A model after each person, the rest at the end."""
    out: list[dict] = []
    for k, p in enumerate(people):
        out.append(p)
        if k < len(models):
            out.append(models[k])
    return out + models[len(people):]


def _play(console: Any, svc: Any, record: Any, quiet: bool) -> None:
    from tsukeku.errors import TsukekuError
    from tsukeku.sessions.errors import RuleBroken

    host = record.host_token
    blocked: tuple[str, int, list[str]] | None = None
    if not quiet:
        names = "、".join(p.name for p in record.participants)
        console.print(f"[bold]{record.title}[/bold]（{record.form}） 連衆: {names}")
    while True:
        view = svc.view(record.id)
        if view["status"] != "open":
            break
        turn, seat = view["turn"], view["next"]
        if turn["kind"] == "model":
            if not quiet:
                console.print(f"[dim]第{seat['seat']}句 {seat['description']} — "
                              f"{turn['name']} が付けています…[/dim]")
            out = asyncio.run(svc.compose_turn(record.id))
            _show(console, out["verse"], out["violations"])
            continue
        prompt = f"第{seat['seat']}句 {seat['description']}（{turn['name']}）> "
        line = _read(console, prompt, quiet)
        if line is None or line == "" or line == "/end":
            svc.end(record.id, host)
            break
        try:
            if line == "/back":
                svc.take_back(record.id, host)
                continue
            if line == "/accept":
                if blocked is None:
                    console.print("認める句がありません / no refused verse to accept")
                    continue
                text, pid, rules = blocked
                out = svc.post(record.id, text=text, participant_id=pid, token=host, accept=rules)
            else:
                out = svc.post(record.id, text=line, participant_id=turn["id"],
                               token=record.join_token)
            blocked = None
            _show(console, out["verse"], out["violations"])
        except RuleBroken as err:
            rules = sorted({v["rule"] for v in err.violations if v["severity"] == "error"})
            blocked = (line, turn["id"], rules)
            for v in err.violations:
                console.print(f"  [red]{v['name']}[/red] ({v['rule']}): {v['message']}")
            console.print("  直して入力するか /accept（宗匠として認める）/ fix it or /accept")
        except TsukekuError as err:
            console.print(f"  [red]{err}[/red]")
    final = svc.view(record.id)
    if not quiet:
        console.print(f"{final['form']} {len(final['verses'])}/{final['length']}句 — "
                      f"{'満尾' if final['status'] == 'finished' else '中断'}")


def _read(console: Any, prompt: str, quiet: bool) -> str | None:
    if not quiet:
        console.print(prompt, end="")
    line = sys.stdin.readline()
    if not line:
        return None
    if not quiet and not sys.stdin.isatty():
        console.print(line.rstrip("\n"))  # echo piped input so the transcript reads whole
    return line.strip()


def _show(console: Any, verse: dict, violations: list[dict]) -> None:
    accepted = f"  [yellow]（宗匠許し: {'・'.join(verse['accepted'])}）[/yellow]" if verse[
        "accepted"] else ""
    console.print(f"{verse['seat']:>2} {verse['text']}　[dim]{verse['author']}[/dim]{accepted}")
    for v in violations:
        if v["severity"] != "error":
            console.print(f"   [dim]注意 {v['name']}: {v['message']}[/dim]")
