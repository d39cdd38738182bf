"""Merging a run's adapter into its base: a plain Hugging Face model directory."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from tsukeku.errors import ConfigError, ModelError
from tsukeku.io import write_dir_atomic, write_text_atomic


def merge_run(run_dir: str | os.PathLike, out: str | os.PathLike, *, dtype: str | None = None,
              model: Any = None, tokenizer: Any = None, overwrite: bool = False) -> Path:
    """Writes base + adapter merged (PEFT merge_and_unload) with the tokenizer, prompt.json and a
    manifest (models.yaml, `training.manifest`) to `out`, atomically (a temporary sibling renamed
    into place)."""
    from tsukeku.models.loader import adapter_config, load_model, trained_base
    from tsukeku.training.manifest import run_manifest
    from tsukeku.training.runs import read_run

    run_dir = Path(run_dir)
    out = Path(out).expanduser()
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ConfigError(f"{out} exists and is not empty; choose another --out or pass --overwrite")
    if not (run_dir / "adapter").is_dir():
        raise ModelError(f"{run_dir} has no adapter yet (the run has not completed)")
    adapter_config(run_dir / "adapter")  # a readable PEFT config, or a ModelError that says so
    info = read_run(run_dir)
    if model is None:
        model, tokenizer = load_model(trained_base(run_dir / "adapter"), dtype=dtype or "fp32", device="cpu",
                                      adapter=run_dir / "adapter")
    merged = model.merge_and_unload()

    def fill(tmp: Path) -> None:
        merged.save_pretrained(tmp, safe_serialization=True)
        tok_dir = run_dir / "tokenizer"
        if tok_dir.is_dir():
            for f in tok_dir.iterdir():
                shutil.copy2(f, tmp / f.name)
        elif tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        if (run_dir / "prompt.json").exists():
            shutil.copy2(run_dir / "prompt.json", tmp / "prompt.json")
        write_text_atomic(tmp / "README.md", _card(run_dir, info))
        # what `tsukeku serve --models OUT` serves: these merged weights (the base is named)
        run_manifest(run_dir, tmp, merged=tmp)

    return write_dir_atomic(out, fill)


def _card(run_dir: Path, info: dict[str, Any]) -> str:
    summary = info.get("summary", {})
    figures = "\n".join(f"- {k} loss per 付句 token: {v:.4f}" for k, v in summary.items())
    return f"""---
library_name: transformers
base_model: {info.get('base_resolved', info.get('base'))}
language: ja
tags: [tsukeku, renga, merged, {info.get('method')}]
---
# {info.get('name')} (merged)

The base `{info.get('base')}` with the {info.get('method')} adapter of run `{run_dir.name}` merged
into its weights (`tsukeku merge`). Load it like any causal LM; `prompt.json` is the prompt
template it was trained with.

{figures}
"""
