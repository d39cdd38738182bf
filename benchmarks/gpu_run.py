"""The pieces every part of `bench_gpu.py` shares: the run's sizes (Profile), its figures,
notes and device helpers (Run), the dataset (Data) and the training config the run uses."""

from __future__ import annotations

import gc
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SEED = 42
BASE_IDS = {"rinna": "rinna/japanese-gpt-neox-3.6b", "llama": "elyza/ELYZA-japanese-Llama-2-7b"}
FIGURE_KEYS = {"rinna": "rinna_3_6b", "llama": "llama_7b"}
GIB = 2**30
# the sections of a run, in the order they run (`--only` takes these keys)
SECTIONS = {
    "table": "token table (fresh processes)",
    "train": "rinna 3.6B: LoRA training, packed vs padded",
    "llama": "Llama-2 7B: LoRA training",
    "decode": "rinna 3.6B: decode merged vs base",
    "compose": "composer: constrained vs unconstrained at 32k",
    "serve": "composer: 16 requests batched vs unbatched",
    "qlora": "rinna 3.6B: QLoRA training",
}


@dataclass(frozen=True)
class Profile:
    """How much of each measurement a run does (the full run fits 8 minutes on one H100/H200)."""

    name: str
    tiny: bool
    vocab_size: int = 32000
    batch_size: int = 64  # examples per training step
    max_length: int = 128
    warmup_steps: int = 3
    timed_steps: int = 5  # per block; tokens/s is the median over blocks
    blocks: int = 3
    decode_prompts: int = 3
    decode_tokens: int = 32
    decode_repeats: int = 3
    compose_prompts: int = 6  # per split (validation: dev, test: held out)
    compose_n: int = 4
    serve_requests: int = 16
    serve_n: int = 2
    serve_rounds: int = 3
    budget_s: float = 450.0  # a section starting later is skipped (QLoRA: 120 s earlier)


FULL = Profile("full", tiny=False)
TINY = Profile("tiny", tiny=True, batch_size=8, warmup_steps=1, timed_steps=2, blocks=2,
               decode_prompts=2, decode_tokens=8, decode_repeats=2, compose_prompts=2,
               compose_n=2, serve_n=1, serve_rounds=1, budget_s=3600.0)


def log(msg: str) -> None:
    print(f"[bench-gpu] {msg}", file=sys.stderr, flush=True)


class Run:
    """Figures, notes and timing of one benchmark run; sections fail alone unless strict."""

    def __init__(self, profile: Profile, device: str, strict: bool, bf16: bool,
                 only: set[str] | None = None, checkpoint: Callable[[], None] | None = None):
        self.profile = profile
        self.device = device
        self.only = only  # section keys to run (None: all)
        self.checkpoint = checkpoint  # called after every section (writes what is measured)
        self.bf16 = bf16  # weights in bf16 and the Trainer's bf16 autocast
        self.strict = strict
        self.figures: dict[str, Any] = {}
        self.notes: list[str] = []
        self.failed: list[str] = []
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def wants(self, *keys: str) -> bool:
        return self.only is None or any(k in self.only for k in keys)

    def section(self, key: str, fn: Callable[..., dict[str, Any] | None], *args: Any) -> Any:
        name = SECTIONS[key]
        if not self.wants(key):
            return None
        if self.elapsed() > self.profile.budget_s:
            self.notes.append(f"{name} skipped: {self.elapsed():.0f} s used of the "
                              f"{self.profile.budget_s:.0f} s budget")
            log(f"{name}: skipped (time budget)")
            return None
        log(f"{name} ({self.elapsed():.0f} s in)")
        start = time.perf_counter()
        try:
            out = fn(*args)
        except Exception as err:
            if self.strict:
                raise
            traceback.print_exc()
            self.failed.append(name)
            self.notes.append(f"{name} FAILED: {type(err).__name__}: {str(err)[:300]}")
            out = None
        free_memory()
        log(f"{name}: {time.perf_counter() - start:.1f} s")
        if self.checkpoint is not None:
            self.checkpoint()
        return out

    def sync(self) -> None:
        import torch

        if self.device.startswith("cuda"):
            torch.cuda.synchronize()

    def reset_peak(self) -> None:
        import torch

        if self.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()

    def peak_gib(self) -> float | None:
        import torch

        if self.device.startswith("cuda"):
            return torch.cuda.max_memory_allocated() / GIB
        return None


def free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@dataclass
class Data:
    directory: Path
    template: Any
    train: list[dict[str, list[int]]]  # encoded train split (what training steps draw from)
    prompts: dict[str, list[tuple[str, str]]]  # split → (前句, 付句 form), distinct 前句


def load_data(directory: Path, tokenizer: Any, max_length: int) -> Data:
    from tsukeku.corpus.build import build_dataset
    from tsukeku.training.data import encode_split, load_template, read_split

    if not (directory / "train.jsonl").exists():
        build_dataset(("bundled",), directory, seed=0)
    template = load_template(directory, tokenizer=tokenizer)
    train = encode_split(tokenizer, template, read_split(directory, "train"), max_length).examples
    prompts: dict[str, list[tuple[str, str]]] = {}
    for split in ("train", "validation", "test"):
        seen: dict[str, str] = {}
        for rec in read_split(directory, split):
            seen.setdefault(rec["previous"], rec["next_form"])
        prompts[split] = list(seen.items())
    return Data(directory, template, train, prompts)


def train_config(kind: str, data: Data, profile: Profile, **extra: Any):
    """The run config `tsukeku train --base <the published id>` would use (LoRA defaults and
    the catalog's target modules), with this benchmark's batch and step count."""
    from tsukeku.training.config import build_config

    steps = profile.warmup_steps + profile.timed_steps * profile.blocks
    return build_config(None, base=BASE_IDS[kind], data=str(data.directory), method="lora",
                        batch_size=profile.batch_size, max_length=profile.max_length,
                        max_steps=steps, seed=SEED, mlflow=False, **extra)
