"""`tsukeku count | check | split`: morae, form and ku of verse (see docs/prosody.md)."""

from __future__ import annotations

import json

import typer

_FORM_HELP = "Form: 5-7-5 (長句), 7-7 (短句), 5-7-5-7-7 (tanka) or auto."


def _echo_json(obj: dict) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False))


def count(
    texts: list[str] = typer.Argument(..., metavar="TEXT", help="Verses; spaces separate ku."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """Count the morae (音) of each TEXT, ku by ku: one line per TEXT (a TEXT spaced into 3, 2 or
    5 ku is read with its form's meter as a prior, as `check` reads it)."""
    from rich.console import Console
    from rich.text import Text

    from tsukeku.prosody.morae import count_verse

    console = Console(highlight=False, soft_wrap=True)
    for text in texts:
        counted = count_verse(text)
        ku_morae = counted.ku_morae
        record = counted.to_dict()
        if as_json:
            _echo_json(record)
            continue
        line = Text(record["text"], style="bold")
        line.append("  " + record["reading"], style="cyan")
        detail = "+".join(map(str, ku_morae)) + " = " if len(ku_morae) > 1 else ""
        line.append(f"  {detail}{record['morae']} morae")
        console.print(line)


def check(
    text: str = typer.Argument(..., help="A verse, spaced per ku or not."),
    form: str = typer.Option("auto", "--form", "-f", help=_FORM_HELP),
    reading: str | None = typer.Option(
        None, "--reading", "-r", help="Its reading in kana (spaced per ku or not), counted instead."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Check a verse against a form: morae per ku, 字余り / 字足らず."""
    from tsukeku.prosody import check_form

    report = check_form(text, form, reading=reading)
    if as_json:
        _echo_json(report.to_dict())
        return
    from rich.console import Console
    from rich.table import Table

    expected = _expected(report.form)
    table = Table(title=f"{report.form}: {'ok' if report.ok else 'off the meter'}")
    for col in ("ku", "reading", "morae", ""):
        table.add_column(col)
    devs = {d.index: d for d in report.deviations}
    for i, (ku, rd, m) in enumerate(zip(report.ku, report.readings, report.ku_morae, strict=True)):
        mark = f"[red]{devs[i].kind} ({m}/{expected[i]})[/red]" if i in devs else "[green]✓[/green]"
        table.add_row(ku, rd, str(m), mark)
    Console(highlight=False).print(table)


def split(
    text: str = typer.Argument(..., help="An unspaced verse (ruby like 今日〈けふ〉 allowed)."),
    form: str = typer.Option("auto", "--form", "-f", help=_FORM_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the split as JSON."),
) -> None:
    """Split a verse into its ku at word boundaries."""
    from tsukeku.prosody.form import split_with_readings

    form_name, parts = split_with_readings(text, form)
    record = {
        "form": form_name,
        "ku": [k for k, _r, _m in parts],
        "readings": [r for _k, r, _m in parts],
        "ku_morae": [m for _k, _r, m in parts],
    }
    if as_json:
        _echo_json(record)
        return
    typer.echo(" ".join(record["ku"]))


def _expected(form: str) -> tuple[int, ...]:
    from tsukeku.prosody import FORMS

    return FORMS[form]


def register(app: typer.Typer) -> None:
    """Adds this area's commands to the top-level app."""
    app.command("count")(count)
    app.command("check")(check)
    app.command("split")(split)
