"""Held-out 付句 loss of a local model, exactly as training measures it (same encoding, same
per-token mean), and the run a local model's adapter came from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

MAX_LENGTH = 256


def heldout_loss(backend: Any, records: list[dict]) -> dict[str, float] | None:
    """{"loss", "perplexity", "tokens", "examples"} on `records`, or None for a backend that is
    not a local model (remote models give no token likelihoods over a prompt)."""
    composer = getattr(backend, "composer", None)
    if composer is None or not records:
        return None
    from tsukeku.training.data import encode_split, make_collator
    from tsukeku.training.evaluate import target_loss

    loaded = composer.loaded
    encoded = encode_split(loaded.tokenizer, composer.template, records, MAX_LENGTH)
    with loaded.lock, loaded.using(composer.adapter):
        return target_loss(loaded.model, encoded.examples, make_collator(loaded.tokenizer))


def adapter_run(backend: Any) -> dict[str, Any] | None:
    """run.json + eval.json (`evaluation`) of the training run behind a local model's default
    adapter, when the adapter lives in a run directory."""
    from tsukeku.training.runs import is_run_dir, run_details

    composer = getattr(backend, "composer", None)
    name = composer.adapter if composer is not None else None
    path = composer.loaded.adapters.get(name) if name else None
    if path is None:
        return None
    for run_dir in (Path(path), Path(path).parent):
        if is_run_dir(run_dir):
            return run_details(run_dir)
    return None


def loss_curve(run_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Train and validation loss by step from a run's metrics.jsonl."""
    from tsukeku.io import read_jsonl

    rows = read_jsonl(Path(run_dir) / "metrics.jsonl", missing_ok=True)
    train = [(r["step"], r["loss"]) for r in rows if r.get("kind") == "train" and "loss" in r]
    val = [(r["step"], r["eval_loss"]) for r in rows if r.get("kind") == "eval" and "eval_loss" in r]
    return {"train": train, "eval": val}
