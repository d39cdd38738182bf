"""`tsukeku base …`: the offline tiny base and the catalog of known-good bases."""

from __future__ import annotations

import json
from pathlib import Path

import typer

base_app = typer.Typer(help="Base models: build the offline tiny base, list known-good bases.",
                       no_args_is_help=True)


@base_app.command("build-tiny")
def build_tiny_cmd(
    out: Path | None = typer.Option(None, "--out", help="directory to write (default: the cache under $TSUKEKU_HOME)"),
    preset: str = typer.Option("default", "--preset", help="default (a few minutes) or test (seconds)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
) -> None:
    """Train the tiny GPT-NeoX base (tokenizer + model) on the bundled corpus, on CPU."""
    from tsukeku.models.tiny import build_tiny

    path = build_tiny(out, preset=preset, quiet=quiet)
    info = json.loads((path / "tiny_base.json").read_text(encoding="utf-8"))
    typer.echo(f"{path}")
    typer.echo(f"parameters {info['parameters']:,}  vocab {info['vocab_size']}  "
               f"held-out loss {info['heldout_loss']}  built in {info['build_seconds']} s")


@base_app.command("catalog")
def catalog_cmd(as_json: bool = typer.Option(False, "--json", help="JSON instead of a table")) -> None:
    """Known-good Japanese bases with their architecture, PEFT targets and prompt style."""
    from rich.console import Console
    from rich.table import Table

    from tsukeku.models.catalog import CATALOG

    if as_json:
        typer.echo(json.dumps([m.to_dict() for m in CATALOG.values()], ensure_ascii=False, indent=2))
        return
    table = Table(title="known-good bases")
    for col in ("id", "arch", "params", "prompt", "LoRA targets", "OFT targets", "GPU GiB (LoRA / QLoRA)"):
        table.add_column(col)
    for m in CATALOG.values():
        mem = f"{m.min_gpu_gib_lora_bf16 or '-'} / {m.min_gpu_gib_qlora or '-'}"
        table.add_row(m.id, m.architecture, m.params, m.prompt_style, ",".join(m.lora_targets),
                      ",".join(m.oft_targets), mem)
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(base_app, name="base")
