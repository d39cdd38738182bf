#!/usr/bin/env python3
"""GPU figures at real sizes (`make bench-gpu` → bench/results/gpu.json).

On one CUDA GPU, with no network: models of exactly the published shapes of rinna
japanese-gpt-neox-3.6b and Llama-2-7B (ELYZA's base), randomly initialised in bf16 on the GPU,
and a 32k SentencePiece-style tokenizer with byte fallback built here (benchmarks/gpu_shapes.py).
On the bundled dataset (prompt + 付句 of 40–80 tokens), in one run:

- LoRA training tokens/s in bf16: our packed batches (tsukeku.training: the run's LoRA config
  and target modules from `methods.wrap_model`, `data.encode_split`, `data.PackedCollator`)
  against the HF Trainer + PEFT with every example padded to max length (and, as a second
  reference, padded to the longest of its batch), the same Trainer, sampler, seed and steps;
  model FLOPs utilisation against the GPU's published dense bf16 peak; peak memory; QLoRA too
  where bitsandbytes is installed. The 7B: our path only (MFU and memory).
- decode tokens/s of the merged model vs the base (and of the unmerged adapter), greedy.
- the composer at the 32k vocabulary: cost per generated token constrained vs unconstrained, and
  the token-reading table's first build (empty cache) vs its load from the disk cache.
- serving: 16 requests through one `Composer.compose_many` call vs 16 `Composer.compose` calls.

Sections run in that order of importance; one that would start past the time budget is skipped
with a note, and one that fails is noted while the others still run (exit status 1). The parts
live beside this script: gpu_shapes.py (configs, tokenizer, peak table), gpu_run.py (sizes,
figures, data), gpu_training.py, gpu_decoding.py. docs/performance.md describes every figure.

Without CUDA it says so and exits 0. `--tiny --out FILE` runs every measurement with two-layer
models on whatever device there is (the CPU test of this script); it never writes the GPU
result file.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

DEFAULT_OUT = REPO / "bench" / "results" / "gpu.json"

from gpu_decoding import compose_section, decode_section, serve_section, table_section  # noqa: E402
from gpu_run import FULL, SECTIONS, SEED, TINY, Run, free_memory, load_data  # noqa: E402
from gpu_training import qlora_section, train_section  # noqa: E402


def gpu_peak(run: Run, override: float | None) -> None:
    import torch
    from gpu_shapes import peak_bf16_tflops

    name = torch.cuda.get_device_name(0) if run.device.startswith("cuda") else "cpu"
    run.figures["gpu_name"] = name
    run.figures["gpu_peak_bf16_tflops"] = override or peak_bf16_tflops(name)
    if run.figures["gpu_peak_bf16_tflops"] is None:
        run.notes.append(f"MFU not computed: no published bf16 peak for {name!r} in "
                         "benchmarks/gpu_shapes.py (pass --peak-tflops)")


def measure(run: Run, work: Path, peak_override: float | None) -> None:
    import torch
    from gpu_shapes import SPECIALS, build_model, build_tokenizer, model_config

    profile = run.profile
    dtype = torch.bfloat16 if run.bf16 else torch.float32
    gpu_peak(run, peak_override)
    start = time.perf_counter()
    tokenizers = {kind: build_tokenizer(profile.vocab_size, SPECIALS[arch])
                  for kind, arch in (("rinna", "gpt_neox"), ("llama", "llama"))}
    run.figures["tokenizer_build_s"] = (time.perf_counter() - start) / 2
    rinna_tok = tokenizers["rinna"]
    rinna_tok.save_pretrained(work / "tokenizer-rinna")
    data = load_data(work / "data", rinna_tok, profile.max_length)
    lengths = [len(e["input_ids"]) for e in data.train]
    run.figures["example_tokens_mean"] = statistics.mean(lengths)
    deciles = statistics.quantiles(lengths, n=10)
    run.figures["example_tokens_p10"], run.figures["example_tokens_p90"] = deciles[0], deciles[-1]

    run.section("table", table_section, run, work / "tokenizer-rinna")

    def rinna() -> Any:
        model = build_model(model_config("rinna", tiny=profile.tiny,
                                         vocab_size=profile.vocab_size), run.device, dtype)
        model.config.pad_token_id = rinna_tok.pad_token_id
        return model

    # the headline training figures first; each model alone on the GPU (its peak is its own)
    def rinna_training() -> None:
        run.reset_peak()
        train_section(run, "rinna", rinna(), rinna_tok, data, work, True)

    def llama_training() -> None:
        run.reset_peak()
        model = build_model(model_config("llama", tiny=profile.tiny,
                                         vocab_size=profile.vocab_size), run.device, dtype)
        model.config.pad_token_id = tokenizers["llama"].pad_token_id
        llama_data = load_data(work / "data", tokenizers["llama"], profile.max_length)
        train_section(run, "llama", model, tokenizers["llama"], llama_data, work, False)

    run.section("train", rinna_training)
    run.section("llama", llama_training)
    if not run.wants("decode", "compose", "serve", "qlora"):
        return

    base = rinna().eval()  # a fresh base: decoding, the composer and serving
    run.section("decode", decode_section, run, base, rinna_tok, data)
    if run.wants("compose", "serve"):
        from tsukeku.generation.composer import Composer

        composer = Composer(base, rinna_tok, template=data.template, name="rinna-3.6b-random")
        run.section("compose", compose_section, run, composer, data)
        run.section("serve", serve_section, run, composer, data)
        del composer

    saved = None
    if not run.wants("qlora"):
        pass
    elif qlora_possible(run) and run.elapsed() < profile.budget_s - 120:
        saved = work / "rinna-random"
        base.save_pretrained(saved, safe_serialization=True)
        rinna_tok.save_pretrained(saved)
    elif run.device.startswith("cuda") and "QLoRA skipped" not in " ".join(run.notes):
        run.notes.append(f"QLoRA skipped: {run.elapsed():.0f} s used of the "
                         f"{profile.budget_s:.0f} s budget")
    del base
    free_memory()
    if saved is not None:
        run.section("qlora", qlora_section, run, saved, data, work)


def qlora_possible(run: Run) -> bool:
    if not run.device.startswith("cuda"):
        run.notes.append("QLoRA skipped: bitsandbytes 4-bit needs a CUDA GPU")
        return False
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        run.notes.append("QLoRA skipped: bitsandbytes is not installed")
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true",
                    help="two-layer models on any device: tests this script's code, no figures")
    ap.add_argument("--out", type=Path, help=f"result file (default {DEFAULT_OUT.relative_to(REPO)}; "
                                             "--tiny needs its own)")
    ap.add_argument("--peak-tflops", type=float, help="the GPU's dense bf16 peak, when its name "
                                                      "is not in the table")
    ap.add_argument("--batch-size", type=int, help="examples per training step (default 64)")
    ap.add_argument("--bf16", action="store_true",
                    help="--tiny: bf16 weights and autocast on the CPU too (as on a GPU)")
    ap.add_argument("--only", help="comma-separated sections to run: " + ", ".join(SECTIONS)
                    + " (default: all)")
    ap.add_argument("--keep-going", action="store_true",
                    help="--tiny: record a failing section and go on (the full run always does)")
    a = ap.parse_args(argv)

    try:
        import torch
    except ImportError:
        print("bench-gpu: skipped — torch is not installed in this Python environment "
              f"({sys.executable}); run `make setup` first.")
        return 0
    if not a.tiny and not torch.cuda.is_available():
        print("bench-gpu: skipped — no CUDA GPU here (torch.cuda.is_available() is False). "
              "Run `make bench-gpu` on a machine with one NVIDIA GPU (H100/H200 class: under "
              "8 minutes); `python benchmarks/bench_gpu.py --tiny --out FILE` checks the script "
              "on a CPU.")
        return 0
    out = a.out or DEFAULT_OUT
    if a.tiny and out.resolve() == DEFAULT_OUT.resolve():
        ap.error(f"--tiny writes no GPU figures: give --out other than {DEFAULT_OUT}")
    profile = TINY if a.tiny else FULL
    if a.batch_size:
        from dataclasses import replace

        profile = replace(profile, batch_size=a.batch_size)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    only = {k.strip() for k in a.only.split(",")} if a.only else None
    if only and only - set(SECTIONS):
        ap.error(f"--only takes {', '.join(SECTIONS)}; got {', '.join(sorted(only - set(SECTIONS)))}")

    def checkpoint() -> None:  # what is measured so far survives a run cut short
        from tsukeku.io import write_json_atomic

        write_json_atomic(out, report(run, partial=True))

    run = Run(profile, device, strict=a.tiny and not a.keep_going,
              bf16=device == "cuda" or a.bf16, only=only, checkpoint=checkpoint)

    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        work = Path(tmp)
        # every cache (token tables) in this run's own empty folder: the first build is cold
        os.environ["TSUKEKU_HOME"] = str(work / "home")
        (work / "home").mkdir()
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        torch.manual_seed(SEED)
        measure(run, work, a.peak_tflops)

    result = report(run)
    from tsukeku.io import write_json_atomic

    write_json_atomic(out, result)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    print(summary(run.figures))
    return 1 if run.failed else 0


def report(run: Run, partial: bool = False) -> dict[str, Any]:
    from machine import describe

    from tsukeku.training.environment import git_state

    p = run.profile
    figures = {k: round(v, 6) if isinstance(v, float) else v for k, v in run.figures.items()}
    notes = [
        ("PARTIAL (written after a section; the run had not finished). " if partial else "")
        + (f"ONLY the sections {', '.join(k for k in SECTIONS if k in run.only)}. "
           if run.only else "")
        + ("TINY PROFILE (two-layer models): a test of the script, not GPU figures. "
           if p.tiny else "")
        + "Models: rinna/japanese-gpt-neox-3.6b and Llama-2-7B (ELYZA base) shapes from their "
        "published config.json (benchmarks/gpu_shapes.py), random weights (bf16 on a GPU), "
        f"SDPA attention; tokenizer: {p.vocab_size} SentencePiece-style Unigram pieces with byte "
        "fallback built from unidic-lite's words. Data: the bundled dataset build (seed 0), "
        "train split for training steps, validation 前句 for decoding and the dev composer "
        "figures, test 前句 for the held-out composer and serving figures; nothing is tuned.",
        f"Training: HF Trainer, {p.batch_size} examples per step, max length {p.max_length}, "
        f"{p.warmup_steps} warm-up steps then {p.blocks} blocks of {p.timed_steps}; tokens/s = "
        "real tokens / wall time between step ends (GPU synchronised), median of blocks. Ours: "
        "packed rows (PackedCollator); references: the same base weights, LoRA settings, sampler "
        "and seed with every example padded to max length (the padded figure) or to the longest "
        "of its batch. MFU = tokens/s × FLOPs per token / the GPU's dense bf16 peak, FLOPs per "
        "token = 4 per frozen matmul weight (forward + input gradient, no weight gradient) + 6 "
        "per LoRA weight; the 6N convention of full fine-tuning is reported beside it "
        "(lora_mfu_6n_convention_*) and overstates LoRA's work by about 1.5×; attention scores "
        "(<1 % here) and padding are not counted. Peak memory: torch.cuda.max_memory_allocated "
        "from before the model was built.",
        f"Decode: greedy, {p.decode_tokens} new tokens, {p.decode_prompts} prompts one at a "
        f"time, {p.decode_repeats} interleaved repeats after a warm-up; the LoRA adapter's B "
        "matrices are random so that merging changes the weights.",
        f"Composer: n={p.compose_n}, {p.compose_prompts} 前句 per split, temperature 0.8, "
        "top_p 0.95; cost per token from generate wall time / (steps × rows) of each request's "
        "first call. With random weights unconstrained rows rarely end before max_new_tokens "
        "while constrained ones end when the meter is full. Serving: "
        f"{p.serve_requests} constrained requests, n={p.serve_n}, {p.serve_rounds} rounds.",
        *run.notes,
        "transformers " + _version("transformers") + ", peft " + _version("peft")
        + ", accelerate " + _version("accelerate") + ", bitsandbytes " + _version("bitsandbytes"),
        f"{run.elapsed():.0f} s in all; commit {git_state().get('commit')}",
    ]
    return {"figures": figures, "machine": f"{describe(torch=True)}",
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "notes": " ".join(n if n.endswith(".") else f"{n}." for n in notes if n)}


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def summary(f: dict[str, Any]) -> str:
    def g(key: str, fmt: str = ".3g") -> str:
        v = f.get(key)
        return "n/a" if v is None else format(v, fmt)

    return (f"gpu ({f.get('gpu_name')}): rinna 3.6B LoRA {g('lora_tokens_per_s_rinna_3_6b', '.0f')} "
            f"tokens/s, MFU {g('lora_mfu_rinna_3_6b', '.1%')}, peak "
            f"{g('peak_memory_gib_rinna_3_6b', '.1f')} GiB, packed/padded "
            f"{g('packed_vs_padded_tokens_per_s_ratio_rinna_3_6b', '.2f')}x; 7B MFU "
            f"{g('lora_mfu_llama_7b', '.1%')}, peak {g('peak_memory_gib_llama_7b', '.1f')} GiB; "
            f"merged/base decode {g('merged_vs_base_decode_ratio_rinna_3_6b', '.3f')}; "
            f"constrained cost/token {g('constrained_cost_per_token_ratio_32k', '.2f')}x; "
            f"batched/unbatched {g('batched_vs_unbatched_throughput_ratio_16_gpu', '.2f')}x; "
            f"token table {g('token_table_build_s_32k', '.1f')} s cold, "
            f"{g('token_table_cached_load_s_32k', '.2f')} s cached")


if __name__ == "__main__":
    sys.exit(main())
