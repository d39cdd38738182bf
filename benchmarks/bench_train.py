#!/usr/bin/env python3
"""Training figures (`make bench-train` → bench/results/train.json).

In one run, on the default tiny base and the default bundled dataset build:
- `tsukeku train` (LoRA, packed batches: the Trainer's random batches packed into rows of max
  length without cross-example attention) against a plain reference (HF Trainer + PEFT LoRA,
  the same random sampler, every example padded to max length): the same base, data, LoRA
  config, steps, seed. Each runs in its own child process so that its peak
  memory (RSS on CPU, torch.cuda.max_memory_allocated on GPU) is its own. Tokens per second
  count real (non-padding) tokens over training-step time for both (the same callback), and
  both are scored by the same held-out 付句 loss after the same training tokens.
- decode tokens/s of the merged model vs the base (greedy, the same prompts, fixed length,
  median of interleaved repeats), and of the unmerged adapter (its overhead).
- held-out (test split) 付句 loss of the base vs the LoRA-tuned and OFT-tuned models.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# shared by ours and the reference
MAX_LENGTH = 128
BATCH = 16
EPOCHS = 4
# chosen by validation loss in a 48-configuration sweep (bench/results/lora-sweep-gpu.json:
# lr × rank × epochs × targets × dropout); the test split played no part in the choice
LORA = {"rank": 64, "alpha": 128, "dropout": 0.05}
LR = 4e-3
SEED = 42
# torch threads in every measured process: on a CPU shared with other jobs, spinning OpenMP
# threads make timings erratic; one thread per process gives stable ratios
THREADS = int(os.environ.get("BENCH_THREADS", "1"))


def _peak_memory_mb() -> float:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _steps(data_dir: Path) -> int:
    n = sum(1 for line in (data_dir / "train.jsonl").read_text().splitlines() if line.strip())
    return EPOCHS * -(-n // BATCH)


# --- child: ours ------------------------------------------------------------------------------
def child_ours(base: str, data: str, runs: str, method: str, seed: str = str(SEED),
               dropout: str = str(LORA["dropout"])) -> dict:
    from tsukeku.training.config import build_config
    from tsukeku.training.job import train

    extra = {**LORA, "dropout": float(dropout)} if method == "lora" else {"oft_block_size": 32, "dropout": 0.0}
    cfg = build_config(None, base=base, data=data, method=method, max_steps=_steps(Path(data)),
                       batch_size=BATCH, max_length=MAX_LENGTH, lr=LR, seed=int(seed),
                       save_steps=10**6, logging_steps=10, runs_dir=runs, mlflow=False,
                       name=f"bench-{method}", **extra)
    r = train(cfg, quiet=True)
    ev = r.evaluation
    return {"run_dir": str(r.run_dir), "tokens": ev["train"]["tokens"],
            "seconds": ev["train"]["seconds"], "tokens_per_s": ev["train"]["tokens_per_s"],
            "validation_loss": ev["validation"]["loss"], "test_loss": ev["test"]["loss"],
            "test_base_loss": ev["test_base"]["loss"], "steps": ev["train"]["steps"],
            "peak_memory_mb": _peak_memory_mb()}


# --- child: the plain reference ---------------------------------------------------------------
def child_reference(base: str, data: str, work: str, seed: str = str(SEED),
                    dropout: str = str(LORA["dropout"])) -> dict:
    """HF Trainer + PEFT LoRA, every example padded to MAX_LENGTH, the Trainer's random sampler."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        Trainer,
        TrainingArguments,
        set_seed,
    )
    from transformers.utils import logging as hf_logging

    from tsukeku.prompts import PromptTemplate
    from tsukeku.training.data import IGNORE, encode_split, make_collator, read_split
    from tsukeku.training.evaluate import target_loss
    from tsukeku.training.tracking import RunRecorder

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    set_seed(int(seed))
    tok = AutoTokenizer.from_pretrained(base)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype).to(device)
    template = PromptTemplate.load(data, tokenizer=tok)
    train_enc = encode_split(tok, template, read_split(data, "train"), MAX_LENGTH)

    class Padded:
        def __init__(self, examples):
            self.rows = []
            for e in examples:
                pad = MAX_LENGTH - len(e["input_ids"])
                self.rows.append({
                    "input_ids": torch.tensor(e["input_ids"] + [tok.pad_token_id] * pad),
                    "attention_mask": torch.tensor([1] * len(e["input_ids"]) + [0] * pad),
                    "labels": torch.tensor(e["labels"] + [IGNORE] * pad),
                })

        def __len__(self):
            return len(self.rows)

        def __getitem__(self, i):
            return self.rows[i]

    model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=LORA["rank"],
                                             lora_alpha=LORA["alpha"], lora_dropout=float(dropout),
                                             target_modules=["query_key_value", "dense"]))
    steps = _steps(Path(data))
    args = TrainingArguments(output_dir=work, max_steps=steps, per_device_train_batch_size=BATCH,
                             learning_rate=LR, lr_scheduler_type="cosine",
                             warmup_steps=int(round(0.05 * steps)), seed=int(seed), report_to="none",
                             save_strategy="no", logging_steps=10, disable_tqdm=True,
                             include_num_input_tokens_seen="non_padding", use_cpu=device == "cpu",
                             bf16=dtype == torch.bfloat16, dataloader_num_workers=0)
    recorder = RunRecorder(Path(work), None)  # the same step timing as tsukeku train
    trainer = Trainer(model=model, args=args, train_dataset=Padded(train_enc.examples),
                      callbacks=[recorder])
    trainer.train()
    collator = make_collator(tok)
    val = encode_split(tok, template, read_split(data, "validation"), MAX_LENGTH).examples
    return {"tokens": recorder.tokens_end - (recorder.tokens_start or 0),
            "seconds": recorder.train_seconds, "tokens_per_s": recorder.tokens_per_second,
            "padded_tokens": steps * BATCH * MAX_LENGTH, "steps": trainer.state.global_step,
            "validation_loss": target_loss(model, val, collator, BATCH)["loss"],
            "peak_memory_mb": _peak_memory_mb()}


def _child(*args: str) -> dict:
    r = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True,
                       env={**os.environ, "OMP_NUM_THREADS": str(THREADS),
                            "PYTHONPATH": os.pathsep.join(
                                p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)})
    if r.returncode != 0:
        raise SystemExit(f"child {args[0]} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# --- decode speed -------------------------------------------------------------------------------
def decode_figures(base: str, run_dir: str, data: str, repeats: int = 15, new_tokens: int = 32) -> dict:
    import torch

    from tsukeku.models import load_model
    from tsukeku.prompts import PromptTemplate
    from tsukeku.training.data import read_split
    from tsukeku.training.merge import merge_run

    with tempfile.TemporaryDirectory() as tmp:
        merged_dir = merge_run(run_dir, Path(tmp) / "merged")
        models = {"base": load_model(base)[0], "merged": load_model(merged_dir)[0],
                  "unmerged": load_model(base, adapter=run_dir)[0]}
    _, tok = load_model(base)
    template = PromptTemplate.load(data, tokenizer=tok)
    prompts = [template.render(r["previous"], r["next_form"], r.get("context") or ())
               for r in read_split(data, "validation")[:8]]
    encoded = [tok(p, return_tensors="pt") for p in prompts]
    device = next(models["base"].parameters()).device

    def run(model) -> float:
        n, t0 = 0, time.perf_counter()
        with torch.no_grad():
            for ids in encoded:
                ids = {k: v.to(device) for k, v in ids.items()}
                out = model.generate(**ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                     do_sample=False, pad_token_id=tok.pad_token_id)
                n += out.shape[1] - ids["input_ids"].shape[1]
        if device.type == "cuda":
            torch.cuda.synchronize()
        return n / (time.perf_counter() - t0)

    for m in models.values():  # warm-up
        run(m)
    speeds: dict[str, list[float]] = {k: [] for k in models}
    for i in range(repeats):  # interleaved (rotating order), so drift hits all three alike
        order = list(models)[i % 3:] + list(models)[:i % 3]
        for k in order:
            speeds[k].append(run(models[k]))
    med = {k: statistics.median(v) for k, v in speeds.items()}
    # ratios of the same repeat, then their median: robust to a machine that speeds up or slows
    merged_ratio = statistics.median(m / b for m, b in zip(speeds["merged"], speeds["base"], strict=True))
    unmerged_ratio = statistics.median(u / b for u, b in zip(speeds["unmerged"], speeds["base"], strict=True))
    return {"decode_tokens_per_s_base": med["base"], "decode_tokens_per_s_merged": med["merged"],
            "decode_tokens_per_s_unmerged": med["unmerged"],
            "merged_vs_base_decode_ratio": merged_ratio,
            "unmerged_adapter_decode_overhead": 1 - unmerged_ratio}


def _without_dropout(base: Path, out: Path) -> Path:
    """A copy of the base with its hidden and attention dropout off (config.json only)."""
    import shutil

    shutil.copytree(base, out)
    config = json.loads((out / "config.json").read_text())
    for key in config:
        if key.endswith("dropout"):
            config[key] = 0.0
    (out / "config.json").write_text(json.dumps(config))
    return out


def _summarise_runs(runs: list[dict]) -> dict:
    """Median speed and memory over the repeats; losses averaged over them (each repeat has its
    own seed, so one lucky sampling order does not decide a loss comparison)."""
    out = dict(runs[0])
    for key in ("tokens_per_s", "seconds", "peak_memory_mb"):
        out[key] = statistics.median(r[key] for r in runs)
    out["tokens_per_s_all"] = [round(r["tokens_per_s"], 1) for r in runs]
    for key in ("validation_loss", "test_loss", "test_base_loss"):
        if key in runs[0]:
            out[key] = statistics.fmean(r[key] for r in runs)
            out[f"{key}_all"] = [round(r[key], 4) for r in runs]
    return out


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--child", nargs="+")
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "train.json"))
    p.add_argument("--preset", default="default", help="tiny base preset (test: a quick dry run)")
    p.add_argument("--repeats", type=int, default=5, help="alternating runs of ours and the reference")
    a = p.parse_args()
    import torch

    torch.set_num_threads(THREADS)
    if a.child:
        kind, *rest = a.child
        result = child_ours(*rest) if kind == "ours" else child_reference(*rest)
        print(json.dumps(result))
        return 0

    from tsukeku.corpus.build import build_dataset
    from tsukeku.models.tiny import default_base_path
    from tsukeku.training.environment import git_state

    started = time.time()
    base = default_base_path(preset=a.preset, quiet=False)
    tiny_info = json.loads((base / "tiny_base.json").read_text())
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        data = Path(tmp) / "data"
        stats = build_dataset(("bundled",), data, seed=0).stats
        # ours and the reference alternate, and each figure is the median over the repeats, so
        # a busy spell of a shared machine does not land on one side only
        ours_runs, ref_runs = [], []
        for i in range(a.repeats):  # repeat i: seed SEED + i on both sides
            seed = str(SEED + i)
            ours_runs.append(_child("ours", str(base), str(data), str(Path(tmp) / f"runs{i}"),
                                    "lora", seed))
            ref_runs.append(_child("reference", str(base), str(data), str(Path(tmp) / f"ref{i}"),
                                   seed))
        ours = _summarise_runs(ours_runs)
        reference = _summarise_runs(ref_runs)
        # with every dropout off, ours and the reference are the same computation (same sampler,
        # same seed, same adapter init): their losses must agree to float rounding
        plain = _without_dropout(base, Path(tmp) / "base-without-dropout")
        ours_plain = _child("ours", str(plain), str(data), str(Path(tmp) / "runs-plain"), "lora",
                            str(SEED), "0")
        ref_plain = _child("reference", str(plain), str(data), str(Path(tmp) / "ref-plain"),
                           str(SEED), "0")
        oft = _child("ours", str(base), str(data), str(Path(tmp) / "runs-oft"), "oft")
        decode = decode_figures(str(base), ours_runs[0]["run_dir"], str(data))

    # paired by seed: the same batches and adapter init on both sides, so a delta is dropout's noise
    deltas = [o["validation_loss"] - r["validation_loss"] for o, r in zip(ours_runs, ref_runs, strict=True)]
    deltas_se = statistics.stdev(deltas) / len(deltas) ** 0.5 if len(deltas) > 1 else float("nan")
    figures = {
        "tokens_per_s_ratio_vs_reference": ours["tokens_per_s"] / reference["tokens_per_s"],
        "val_loss_delta_vs_reference": ours["validation_loss"] - reference["validation_loss"],
        "val_loss_delta_standard_error": deltas_se,
        "val_loss_delta_without_dropout": ours_plain["validation_loss"] - ref_plain["validation_loss"],
        "merged_vs_base_decode_ratio": decode["merged_vs_base_decode_ratio"],
        "lora_heldout_loss_reduction": (ours["test_base_loss"] - ours["test_loss"]) / ours["test_base_loss"],
        "oft_heldout_loss_reduction": (oft["test_base_loss"] - oft["test_loss"]) / oft["test_base_loss"],
        "tokens_per_s_ours": ours["tokens_per_s"],
        "tokens_per_s_reference": reference["tokens_per_s"],
        "repeats": a.repeats,
        "train_tokens_ours": ours["tokens"],
        "train_tokens_reference": reference["tokens"],
        "padded_tokens_reference": reference["padded_tokens"],
        "peak_memory_mb_ours": ours["peak_memory_mb"],
        "peak_memory_mb_reference": reference["peak_memory_mb"],
        "val_loss_ours": ours["validation_loss"],
        "val_loss_reference": reference["validation_loss"],
        "test_loss_base": ours["test_base_loss"],
        "test_loss_lora": ours["test_loss"],
        "test_loss_oft": oft["test_loss"],
        "unmerged_adapter_decode_overhead": decode["unmerged_adapter_decode_overhead"],
        "decode_tokens_per_s_base": decode["decode_tokens_per_s_base"],
        "decode_tokens_per_s_merged": decode["decode_tokens_per_s_merged"],
        "decode_tokens_per_s_unmerged": decode["decode_tokens_per_s_unmerged"],
        "tiny_base_parameters": tiny_info["parameters"],
        "tiny_base_heldout_loss": tiny_info["heldout_loss"],
        "steps": ours["steps"],
    }
    figures = {k: round(v, 6) if isinstance(v, float) else v for k, v in figures.items()}
    device = (f"cuda {torch.cuda.get_device_name(0)}" if torch.cuda.is_available()
              else f"cpu ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)")
    result = {
        "figures": figures,
        "machine": f"{platform.node()} {platform.machine()} {device}",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "notes": (
            f"tiny base preset {a.preset} ({tiny_info['parameters']:,} params); bundled data "
            f"{stats.get('by_split')} links; LoRA r={LORA['rank']} on query_key_value,dense, "
            f"lr {LR}, batch {BATCH}, {ours['steps']} steps ({EPOCHS} epochs), max length "
            f"{MAX_LENGTH}, seeds {SEED}..{SEED + a.repeats - 1} (one per repeat, losses averaged: "
            f"ours val {ours['validation_loss_all']}, reference val "
            f"{reference['validation_loss_all']}, paired deltas {[round(d, 4) for d in deltas]}, LoRA test {ours['test_loss_all']}); with every dropout off (base and LoRA, seed {SEED}) val ours {ours_plain['validation_loss']:.6f} vs reference {ref_plain['validation_loss']:.6f}; ours packs each random batch into rows of max length (batching packed), the reference pads every example to max length, both with the Trainer's random sampler; "
            "tokens/s = non-padding tokens / training-step seconds for both, median of "
            f"{a.repeats} alternating runs each (ours {ours['tokens_per_s_all']}, reference "
            f"{reference['tokens_per_s_all']}); {THREADS} torch thread(s) per process; "
            "val/test loss = mean NLL per 付句 token; decode = greedy 32 new tokens on 8 "
            "validation prompts, median of 15 interleaved repeats (merged/base: median of "
            f"per-repeat ratios); commit {git_state().get('commit')}; "
            f"{time.time() - started:.0f} s in all"
        ),
    }
    out = Path(a.out)
    from tsukeku.io import write_json_atomic

    write_json_atomic(out, result)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    print(f"train: {figures['tokens_per_s_ratio_vs_reference']:.2f}x tokens/s vs padded reference "
          f"(val loss delta {figures['val_loss_delta_vs_reference']:+.4f} ± "
          f"{figures['val_loss_delta_standard_error']:.4f} SE; without dropout "
          f"{figures['val_loss_delta_without_dropout']:+.6f}); merged/base decode "
          f"{figures['merged_vs_base_decode_ratio']:.3f}; held-out loss reduction LoRA "
          f"{figures['lora_heldout_loss_reduction']:.1%}, OFT {figures['oft_heldout_loss_reduction']:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
