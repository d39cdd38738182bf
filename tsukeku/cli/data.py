"""`tsukeku data …`: build training datasets from renga/tanka sources, print their statistics,
check sources, download the Hachidaishu dataset."""

from __future__ import annotations

from pathlib import Path

import typer

data_app = typer.Typer(
    name="data",
    help="Corpus data: build train/validation/test sets, show statistics, fetch datasets.",
    no_args_is_help=True,
)

_MAX_SHOWN = 20


def _print_issues(log, console, *, quiet: bool) -> None:
    """Bad records always (they were skipped); warnings unless quiet."""
    errors, warnings = log.errors, log.warnings
    for issue in errors[:_MAX_SHOWN]:
        console.print(f"[red]bad record[/red] {issue}", highlight=False, soft_wrap=True)
    if len(errors) > _MAX_SHOWN:
        console.print(f"… and {len(errors) - _MAX_SHOWN} more bad record(s)")
    if not quiet:
        for issue in warnings[:_MAX_SHOWN]:
            console.print(f"[yellow]warning[/yellow] {issue}", highlight=False, soft_wrap=True)
        if len(warnings) > _MAX_SHOWN:
            console.print(f"… and {len(warnings) - _MAX_SHOWN} more warning(s)")


@data_app.command("build")
def build(
    out: Path = typer.Option(..., "--out", "-o", help="Directory to write the dataset to."),
    source: list[str] = typer.Option(
        ["bundled"],
        "--source",
        "-s",
        help="A source name (bundled, hyakunin, kokinshu, hachidaishu), FORMAT:PATH, or a file "
        "or folder (.jsonl .json .csv .tsv .txt .db). Repeat for several.",
    ),
    seed: int = typer.Option(0, help="Seed of the split (same seed, same files)."),
    split: str = typer.Option("80/10/10", help="Proportions train/validation/test, by links."),
    prompt: str = typer.Option(
        "completion",
        help="Prompt template saved with the data: completion, instruction, "
        "instruction-rinna (chat needs a model's tokenizer: choose it at training time).",
    ),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first bad record."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or tables."),
) -> None:
    """Build train/validation/test JSON Lines, stats.json and prompt.json from sources."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from tsukeku.corpus.build import build_dataset, parse_proportions
    from tsukeku.corpus.issues import IssueLog
    from tsukeku.corpus.readers import read_sources
    from tsukeku.corpus.stats import render_stats
    from tsukeku.prompts import get_template

    console = Console()
    err_console = Console(stderr=True)
    proportions = parse_proportions(split)
    template = get_template(prompt)
    log = IssueLog(strict=strict)
    data = read_sources(source, log)
    with Progress(
        TextColumn("checking verses"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err_console,
        disable=quiet,
        transient=True,
    ) as bar:
        task = bar.add_task("check", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = build_dataset(
            source,
            out,
            seed=seed,
            proportions=proportions,
            strict=strict,
            template=template,
            progress=progress,
            data=data,
            log=log,
        )
    _print_issues(log, err_console, quiet=quiet)
    if not quiet:
        render_stats(result.stats, console)
        console.print(
            f"wrote {out}/train.jsonl, validation.jsonl, test.jsonl, stats.json, prompt.json"
        )


@data_app.command("stats")
def stats(
    directory: Path = typer.Argument(..., help="A directory written by `data build`."),
) -> None:
    """Print the statistics of a built dataset."""
    from tsukeku.corpus.stats import load_stats, render_stats

    render_stats(load_stats(directory))


@data_app.command("check")
def check(
    source: list[str] = typer.Argument(..., help="Sources, as for `data build --source`."),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first bad record."),
) -> None:
    """Read sources and report bad records and warnings, without building anything."""
    from rich.console import Console

    from tsukeku.corpus.issues import IssueLog
    from tsukeku.corpus.readers import read_sources
    from tsukeku.errors import DataError

    console = Console(stderr=True)
    log = IssueLog(strict=strict)
    data = read_sources(source, log)
    _print_issues(log, console, quiet=False)
    for d in data:
        Console().print(
            f"{d.name}: {len(d.links)} link(s), {len(d.chains)} chain(s) "
            f"({len(d.all_links())} links in all); {d.bad_records} bad record(s), "
            f"{d.warnings} warning(s)",
            highlight=False,
            soft_wrap=True,
        )
    if log.errors:
        raise DataError(f"{len(log.errors)} bad record(s) in the sources")


@data_app.command("fetch")
def fetch(
    dataset: str = typer.Argument(..., help="The dataset to download: hachidaishu."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Directory to save it in (default: $TSUKEKU_HOME/data)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Download a public dataset (needs internet access)."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    from tsukeku.corpus.fetch import fetch_hachidaishu
    from tsukeku.errors import InputError

    if dataset != "hachidaishu":
        raise InputError(f"unknown dataset {dataset!r}; the one that can be fetched is hachidaishu")
    with Progress(
        TextColumn("downloading hachidai.db"),
        BarColumn(),
        DownloadColumn(),
        console=Console(stderr=True),
        disable=quiet,
        transient=True,
    ) as bar:
        task = bar.add_task("download", total=None)
        path = fetch_hachidaishu(
            out, progress=lambda done, total: bar.update(task, completed=done, total=total)
        )
    typer.echo(f"saved {path}; use it with --source hachidaishu" + (f":{path}" if out else ""))


@data_app.command("preferences")
def preferences(
    data: Path = typer.Option(..., "--data", "-d", help="dataset dir from `tsukeku data build`"),
    out: Path = typer.Option(..., "--out", "-o", help="preference pairs (JSON Lines) to write"),
    rule: list[str] = typer.Option(
        [], "--rule", help="ku_dropped, ku_duplicated, copies_previous, unlinked (repeat; default: all but unlinked)"),
    seed: int = typer.Option(0, help="seed of the rule and ku drawn per link"),
    prompt: str | None = typer.Option(
        None, "--prompt", help="prompt template instead of the dataset's prompt.json"),
) -> None:
    """Synthetic preference pairs from the TRAINING split: each true 付句 over a copy broken by a
    rule (a ku dropped or said twice, or a ku of the 前句 copied in; with --rule unlinked, over
    another 前句's 付句 of the same form), labelled synthetic."""
    import json
    from collections import Counter

    from tsukeku.training.data import load_template
    from tsukeku.training.preferences import RULES, build_preferences

    template = load_template(data, prompt) if prompt else None
    pairs = build_preferences(data, out, template=template, rules=rule or RULES, seed=seed)
    typer.echo(json.dumps({"out": str(out), "pairs": len(pairs), "split": "train",
                           "rules": dict(Counter(p["rule"] for p in pairs))}, ensure_ascii=False))


def register(app: typer.Typer) -> None:
    """Adds this area's commands to the top-level app."""
    app.add_typer(data_app, name="data")
