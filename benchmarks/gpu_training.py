"""LoRA training throughput for `bench_gpu.py`: our packed batches against padded references
on the same base weights, model FLOPs utilisation, peak memory, and QLoRA."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from gpu_run import FIGURE_KEYS, Data, Run, free_memory, train_config


def timed_training(run: Run, model: Any, cfg: Any, examples: list[dict], collator: Any,
                   work: Path) -> dict[str, Any]:
    """Trains `model` for cfg.max_steps with the HF Trainer and `collator`; tokens/s (real,
    non-padding tokens over wall time between step ends, GPU synchronised) per block of
    timed steps after the warm-up, and the median over blocks."""
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from tsukeku.training.data import EncodedSplit, ExampleDataset

    profile = run.profile
    tokens: list[int] = []

    def counting(batch: list[dict]) -> Any:
        tokens.append(sum(len(e["input_ids"]) for e in batch))
        return collator(batch)

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.seconds: list[float] = []
            self.ref: float | None = None

        def on_step_begin(self, args, state, control, **kw):
            if self.ref is None:
                run.sync()
                self.ref = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            run.sync()
            now = time.perf_counter()
            self.seconds.append(now - (self.ref or now))
            self.ref = now

    timer = StepTimer()
    args = TrainingArguments(
        output_dir=str(work), per_device_train_batch_size=cfg.batch_size, max_steps=cfg.max_steps,
        learning_rate=cfg.resolved_lr(False), lr_scheduler_type=cfg.schedule, warmup_steps=0,
        max_grad_norm=cfg.max_grad_norm, bf16=run.bf16, logging_steps=10**6, save_strategy="no",
        report_to="none", disable_tqdm=True, dataloader_num_workers=0, seed=cfg.seed,
        data_seed=cfg.seed, remove_unused_columns=False, use_cpu=run.device == "cpu",
    )
    trainer = Trainer(model=model, args=args, data_collator=counting,
                      train_dataset=ExampleDataset(EncodedSplit(examples)), callbacks=[timer])
    trainer.train()
    del trainer
    free_memory()
    w, t = profile.warmup_steps, profile.timed_steps
    rates = []
    for b in range(profile.blocks):
        steps = range(w + b * t, w + (b + 1) * t)
        rates.append(sum(tokens[i] for i in steps) / sum(timer.seconds[i] for i in steps))
    return {"tokens_per_s": statistics.median(rates), "tokens_per_s_blocks": rates,
            "tokens_per_step": statistics.mean(tokens[w: w + t * profile.blocks]),
            "peak_gib": run.peak_gib()}


def no_cache_in_training(model: Any) -> None:
    """use_cache off while training. The published configs have it on, and with it transformers
    (5.x) builds a KV cache even in a training forward, and a model with a cache never reads
    packed position ids: every example of a packed row would attend to the ones before it.
    `tsukeku train` leaves it on (the tiny base's config has it off): see docs/performance.md."""
    model.config.use_cache = False


def packed_rows_isolated(model: Any, collator: Any, examples: list[dict], device: str) -> bool:
    """Whether a packed row keeps its examples apart: changing the first example's first token
    moves that example's logits and must leave the second example's as they were."""
    import torch

    batch = {k: v.to(device) for k, v in collator(examples).items()}
    starts = (batch["position_ids"][0] == 0).nonzero().flatten().tolist()
    if len(starts) < 2:
        raise RuntimeError("the check needs two examples packed in one row")
    changed = batch["input_ids"].clone()
    changed[0, 0] = (changed[0, 0] + 1) % model.config.vocab_size
    was_training = model.training
    model.eval()
    with torch.no_grad():
        a = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits[0]
        b = model(input_ids=changed, position_ids=batch["position_ids"]).logits[0]
    model.train(was_training)
    first, second = slice(0, starts[1]), slice(starts[1], starts[2] if len(starts) > 2 else None)
    moved_first = (a[first] - b[first]).abs().max().item()
    moved_second = (a[second] - b[second]).abs().max().item()
    # isolated: exactly 0 (a masked key adds exp(-inf) = 0); 1e-3 of the first's change spares
    # a kernel's rounding, while a leak moves the second example about as much as the first
    return moved_first > 0 and moved_second <= 1e-3 * moved_first


def lora_options(cfg: Any) -> Any:
    """rank, alpha, dropout of the run's LoRA (grouped as `cfg.lora` or flat on older configs)."""
    return cfg.options() if hasattr(cfg, "options") else cfg


def flops_per_token(n_matmul: int, n_trainable: int) -> tuple[float, float]:
    """(LoRA on a frozen base, the 6N convention). A frozen base weight costs 2 FLOPs per token
    forward and 2 for the gradient of its input backward, but no weight gradient: 4N; the
    trainable LoRA weights cost the full 6 each. Attention scores (~4·layers·context·width per
    token, <1 % at 40–128 tokens) are left out of both."""
    return 4.0 * n_matmul + 6.0 * n_trainable, 6.0 * n_matmul


def train_section(run: Run, kind: str, model: Any, tokenizer: Any, data: Data, work: Path,
                  with_references: bool) -> Any:
    """Ours (packed) on `model`; with `with_references` also the padded references on the same
    base weights. Returns the base without adapters."""
    from gpu_shapes import matmul_parameters
    from peft import LoraConfig, get_peft_model
    from transformers import DataCollatorForSeq2Seq

    from tsukeku.training.data import IGNORE, PackedCollator, make_collator, packing_supported
    from tsukeku.training.methods import wrap_model

    key = FIGURE_KEYS[kind]
    cfg = train_config(kind, data, run.profile)
    no_cache_in_training(model)
    n_matmul = matmul_parameters(model)
    peft_model, targets = wrap_model(model, cfg)
    if not packing_supported(peft_model):
        raise RuntimeError("the model's attention cannot take packed batches")
    n_trainable, n_total = peft_model.get_nb_trainable_parameters()
    collator = PackedCollator(tokenizer.pad_token_id, cfg.max_length)
    shortest = sorted(data.train, key=lambda e: len(e["input_ids"]))[:2]
    if not packed_rows_isolated(peft_model, collator, shortest, run.device):
        raise RuntimeError("packed examples see each other: the timing would not be of packing")
    ours = timed_training(run, peft_model, cfg, data.train, collator, work / "ours")
    per_token, per_token_6n = flops_per_token(n_matmul, n_trainable)
    f = run.figures
    f[f"{key}_parameters"] = n_total
    f[f"{key}_matmul_parameters"] = n_matmul
    f[f"lora_trainable_parameters_{key}"] = n_trainable
    f[f"lora_tokens_per_s_{key}"] = ours["tokens_per_s"]
    f[f"lora_tokens_per_step_{key}"] = ours["tokens_per_step"]
    f[f"peak_memory_gib_{key}"] = ours["peak_gib"]
    peak = run.figures.get("gpu_peak_bf16_tflops")
    f[f"lora_mfu_{key}"] = ours["tokens_per_s"] * per_token / (peak * 1e12) if peak else None
    f[f"lora_mfu_6n_convention_{key}"] = (ours["tokens_per_s"] * per_token_6n / (peak * 1e12)
                                          if peak else None)
    lora = lora_options(cfg)
    run.notes.append(
        f"{key}: LoRA r={lora.rank} alpha={lora.alpha} dropout {lora.dropout} on {','.join(targets)} ({n_trainable:,} trainable of "
        f"{n_total:,}); tokens/s by block {[round(r) for r in ours['tokens_per_s_blocks']]}")
    base = peft_model.unload()
    if not with_references:
        return base
    # the same base weights with plain PEFT LoRA of the same settings: only the batches differ
    references = {
        "max_length": DataCollatorForSeq2Seq(tokenizer, padding="max_length",
                                             max_length=cfg.max_length,
                                             label_pad_token_id=IGNORE, return_tensors="pt"),
        "longest": make_collator(tokenizer),
    }
    results = {}
    for name, collator in references.items():
        run.reset_peak()
        ref_model = get_peft_model(base, LoraConfig(
            task_type="CAUSAL_LM", r=lora.rank, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
            target_modules=targets, bias="none"))
        results[name] = timed_training(run, ref_model, cfg, data.train, collator,
                                       work / f"ref-{name}")
        base = ref_model.unload()
    f[f"padded_tokens_per_s_{key}"] = results["max_length"]["tokens_per_s"]
    f[f"packed_vs_padded_tokens_per_s_ratio_{key}"] = (ours["tokens_per_s"]
                                                       / results["max_length"]["tokens_per_s"])
    f[f"peak_memory_gib_padded_{key}"] = results["max_length"]["peak_gib"]
    f[f"longest_padded_tokens_per_s_{key}"] = results["longest"]["tokens_per_s"]
    f[f"packed_vs_longest_padded_tokens_per_s_ratio_{key}"] = (
        ours["tokens_per_s"] / results["longest"]["tokens_per_s"])
    return base


def qlora_section(run: Run, saved: Path, data: Data, work: Path) -> None:
    """QLoRA through the project's own loading (`load_model(load_in_4bit=True)`: NF4, double
    quantisation) and `wrap_model` (prepare_model_for_kbit_training), packed batches."""
    from tsukeku.models import load_model
    from tsukeku.training.data import PackedCollator
    from tsukeku.training.methods import wrap_model

    run.reset_peak()
    model, tokenizer = load_model(str(saved), dtype="bf16", device=None, load_in_4bit=True,
                                  trainable=True)
    cfg = train_config("rinna", data, run.profile, load_in_4bit=True)
    no_cache_in_training(model)
    peft_model, _ = wrap_model(model, cfg)
    out = timed_training(run, peft_model, cfg, data.train,
                         PackedCollator(tokenizer.pad_token_id, cfg.max_length), work / "qlora")
    run.figures["qlora_tokens_per_s_rinna_3_6b"] = out["tokens_per_s"]
    run.figures["qlora_peak_memory_gib_rinna_3_6b"] = out["peak_gib"]
