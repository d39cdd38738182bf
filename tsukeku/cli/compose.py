"""`tsukeku compose`: 付句 for a 前句 (or a chain) from any model (see docs/generation.md)."""

from __future__ import annotations

import json

import typer

_O = typer.Option


def compose(
    previous: list[str] = typer.Argument(
        ..., metavar="VERSE...",
        help="The 前句 (spaced per ku or not); several verses: the chain so far, oldest first."),
    model: str | None = _O(None, "--model", "-m",
                           help="A model named in --models (default: the file's default)."),
    models: str | None = _O(None, "--models", help="Models file (YAML) naming the models."),
    base: str | None = _O(None, "--base",
                          help="Without --models: hub id, local dir, or tiny (default: the "
                               "adapter's own base, else tiny)."),
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
    as_json: bool = _O(False, "--json", help="Print the result as JSON."),
    quiet: bool = _O(False, "--quiet", "-q", help="No progress spinner."),
) -> None:
    """Compose 付句 for a 前句: ranked candidates of the form (mora-constrained by default)."""
    from rich.console import Console

    from tsukeku.generation.types import ComposeRequest

    err = Console(stderr=True, quiet=quiet or as_json)
    request = ComposeRequest(
        previous=previous[0] if len(previous) == 1 else list(previous), n=n, form=form,
        constrained=not unconstrained, temperature=temperature, top_p=top_p, top_k=top_k,
        max_new_tokens=max_new_tokens, seed=seed, jiamari=jiamari,
    )
    with err.status("loading the model…"):
        backend = _backend(models, model, base, adapter, template, device)
    with err.status("composing…"):
        result = backend.compose(request)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    _print(result)


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
