"""`tsukeku compose`: 付句 for a 前句 (or a chain) from any model (see docs/generation.md)."""

from __future__ import annotations

import json

import typer

_O = typer.Option


def compose(
    previous: list[str] | None = typer.Argument(
        None, metavar="VERSE...",
        help="The 前句 (spaced per ku or not); several verses: the chain so far, oldest first."),
    model: str | None = _O(None, "--model", "-m",
                           help="A model named in --models (default: the file's default)."),
    models: str | None = _O(None, "--models", help="Models file (YAML) naming the models."),
    base: str | None = _O(None, "--base",
                          help="Without --models: hub id, local dir, or tiny (default: the "
                               "base the adapter was trained on; tiny without an adapter)."),
    adapter: str | None = _O(None, "--adapter", "-a",
                             help="Without --models: adapter dir, run dir or run name."),
    template: str | None = _O(None, "--template",
                              help="Prompt template name or prompt.json (default: the run's)."),
    n: int = _O(5, "--n", "-n", help="How many candidates."),
    form: str = _O("auto", "--form", "-f", help="The 付句's form: auto, 5-7-5 or 7-7."),
    unconstrained: bool = _O(False, "--unconstrained",
                             help="Plain sampling, no mora constraint (candidates may break "
                                  "the form)."),
    jiamari: bool = _O(False, "--jiamari", help="Allow one extra mora (字余り) per ku."),
    temperature: float = _O(0.8, "--temperature", "-t"),
    top_p: float = _O(0.95, "--top-p"),
    top_k: int = _O(0, "--top-k", help="0: off."),
    max_new_tokens: int = _O(48, "--max-new-tokens"),
    seed: int | None = _O(None, "--seed"),
    device: str | None = _O(None, "--device", help="cpu, cuda … (default: cuda if present)."),
    chain: str | None = _O(None, "--chain",
                           help="Compose the next verse of the renga in FILE (as `tsukeku renga "
                                "check` reads it) for its seat: season, 月/花, the rules."),
    profile: str | None = _O(None, "--profile",
                             help="The session's rules for --chain: kasen, hankasen, hyakuin "
                                  "(or 歌仙 …; default: the file's form, else 歌仙)."),
    season: str | None = _O(None, "--season", help="Override the seat's season: 春 夏 秋 冬 雑."),
    topic: list[str] | None = _O(None, "--topic",
                                 help="Override the seat's topics (月, 花); repeatable."),
    as_json: bool = _O(False, "--json", help="Print the result as JSON."),
    quiet: bool = _O(False, "--quiet", "-q", help="No progress spinner."),
) -> None:
    """Compose 付句 for a 前句: ranked candidates of the form (mora-constrained by default).
    With --chain (or --season/--topic/--profile), the next verse of a renga for its seat."""
    from rich.console import Console

    from tsukeku.corpus.model import KIND_FORM
    from tsukeku.errors import InputError
    from tsukeku.generation.types import ComposeRequest

    err = Console(stderr=True, quiet=quiet or as_json)
    options = dict(constrained=not unconstrained, temperature=temperature, top_p=top_p,
                   top_k=top_k, max_new_tokens=max_new_tokens, seed=seed, jiamari=jiamari)
    seat_mode = chain is not None or season is not None or bool(topic) or profile is not None
    if chain is not None and previous:
        raise InputError("give the chain either as --chain FILE or as VERSE arguments, not both")
    if not previous and chain is None:
        raise InputError("give the 前句 (VERSE …) or a chain file (--chain FILE)")
    if seat_mode:
        verses, prof, seat = _seat(chain, list(previous or ()), profile, season, topic)
        if form != "auto" and form != KIND_FORM[seat.kind]:
            raise InputError(f"the seat asks a {seat.kind} ({KIND_FORM[seat.kind]}); "
                             f"--form {form} does not fit it")
    else:
        request = ComposeRequest(previous=previous[0] if len(previous) == 1 else list(previous),
                                 n=n, form=form, **options)
    with err.status("loading the model…"):
        backend = _backend(models, model, base, adapter, template, device)
    with err.status("composing…"):
        if seat_mode:
            from tsukeku.generation.seat_compose import compose_for_seat

            result = compose_for_seat(backend, verses, seat, n, profile=prof, **options)
        else:
            result = backend.compose(request)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    _print(result)


def _seat(chain: str | None, verses: list[str], profile: str | None, season: str | None,
          topics: list[str] | None):
    """(the chain's verses, its rule profile, the next seat with the overrides applied)."""
    from tsukeku.errors import InputError
    from tsukeku.renga.chainfile import read_chain_file
    from tsukeku.renga.profiles import load_profile
    from tsukeku.renga.seat import next_seat

    form = None
    if chain is not None:
        chains = read_chain_file(chain)
        if len(chains) != 1:
            raise InputError(f"{chain}: holds {len(chains)} chains; give a file with one")
        records: list = chains[0].verses
        form = chains[0].form
    else:
        records = verses
    prof = load_profile(profile or form or "歌仙")
    bad = [t for t in topics or () if t not in ("月", "花")]
    if bad:
        raise InputError(f"--topic {bad[0]!r}: a seat can ask 月 or 花")
    seat = next_seat(records, prof).with_overrides(season, topics or None)
    return records, prof, seat


def _backend(models: str | None, model: str | None, base: str | None, adapter: str | None,
             template: str | None, device: str | None):
    from tsukeku.errors import ConfigError

    if models is not None:
        from tsukeku.backends import load_models_file

        if adapter is not None or base is not None:
            raise ConfigError("--base/--adapter describe a model without --models; with a models "
                              "file choose one of its models with --model")
        registry = load_models_file(models)
        return registry.get(model or registry.default)
    if model is not None:
        raise ConfigError("--model names a model of a models file: give --models FILE too")
    from pathlib import Path

    from tsukeku.backends.local import LocalHFBackend

    label = str(adapter or base or "tiny")
    name = Path(label.rstrip("/")).name or label
    return LocalHFBackend.from_pretrained(name, base, adapter=adapter, template=template,
                                          device=device)


def _print(result) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    previous = result.previous if isinstance(result.previous, str) else result.previous[-1]
    console.print(f"前句 {previous}  →  付句 {result.form}   [dim]({result.model}, "
                  f"{result.latency_ms:.0f} ms)[/dim]")
    if result.seat is not None:
        console.print(f"座 {result.seat['number']}: {result.seat['describe']}")
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("#", justify="right")
    table.add_column("付句", style="bold")
    table.add_column("reading", style="cyan")
    table.add_column("morae")
    table.add_column("form")
    table.add_column("score", justify="right")
    for i, c in enumerate(result.candidates, 1):
        table.add_row(str(i), c.text, c.reading, "-".join(map(str, c.ku_morae)),
                      "ok" if c.ok else "[red]broken[/red]", f"{c.score:.3f}")
    if result.candidates:
        console.print(table)
    else:
        console.print("[yellow]no candidate[/yellow]")
    for note in result.notes:
        console.print(f"[dim]· {note}[/dim]")


def register(app: typer.Typer) -> None:
    """Adds this area's commands to the top-level app."""
    app.command("compose")(compose)
