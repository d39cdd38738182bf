"""A training run: the HF Trainer + PEFT on a tsukeku dataset, recorded in a run directory and in
MLflow, resumable from its last complete checkpoint.

Works the same under `accelerate launch` (DDP, DeepSpeed): the main process names the run dir
and writes every file; the Trainer does the distribution."""

from __future__ import annotations

import math
import os
import platform
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

from tsukeku.errors import ConfigError, ModelError
from tsukeku.io import write_json_atomic, write_text_atomic
from tsukeku.training.config import TrainConfig, load_run_config
from tsukeku.training.lifecycle import (
    OutOfMemory,
    RunResult,
    device_and_precision,
    loss_metrics,
    quiet_libraries,
    resume_point,
    save_outputs,
    shared_run_dir,
    start_tracker,
    state,
    train_recorded,
    trainer_arguments,
)
from tsukeku.training.runs import RunRecord, find_run, now_iso


def default_name(cfg: TrainConfig) -> str:
    base = "tiny" if cfg.base in ("tiny", "tiny:test") else Path(cfg.base.rstrip("/")).name
    return f"{cfg.method}-{base}"


def train(cfg: TrainConfig | None = None, *, resume: str | os.PathLike | None = None,
          quiet: bool = False, runs_dir: str | None = None,
          callbacks: list[Any] | None = None) -> RunResult:
    """Runs (or resumes) a training job and returns where it is recorded. `callbacks`: extra
    transformers TrainerCallbacks."""
    if resume is not None:
        run_dir = find_run(resume, runs_dir or (cfg.runs_dir if cfg else "runs"))
        return _dispatch(load_run_config(run_dir), run_dir=run_dir, resuming=True, quiet=quiet,
                         callbacks=callbacks)
    if cfg is None:
        raise ConfigError("nothing to train: give a config or --resume RUN")
    return _dispatch(cfg, run_dir=None, resuming=False, quiet=quiet, callbacks=callbacks)


def _dispatch(cfg: TrainConfig, **kwargs: Any) -> RunResult:
    """Preference tuning (dpo) runs through TRL's DPOTrainer (training.dpo); the PEFT methods here."""
    if cfg.method == "dpo":
        from tsukeku.training.dpo import run_dpo

        result = run_dpo(cfg, **kwargs)
    else:
        result = _run(cfg, **kwargs)
    if result.info.get("status") == "completed":  # on the main process (others: info empty)
        from tsukeku.training.manifest import run_manifest

        run_manifest(result.run_dir)  # models.yaml: `tsukeku serve --models RUN_DIR`
    return result


def _run(cfg: TrainConfig, *, run_dir: Path | None, resuming: bool, quiet: bool,
         callbacks: list[Any] | None = None) -> RunResult:
    import torch
    from transformers import PrinterCallback, TrainingArguments, set_seed

    from tsukeku.models.loader import is_tiny, load_model, resolve_base
    from tsukeku.training import data as D
    from tsukeku.training.environment import environment
    from tsukeku.training.evaluate import target_loss
    from tsukeku.training.methods import wrap_model
    from tsukeku.training.tracking import RunRecorder
    from tsukeku.training.trainer import TsukekuTrainer

    quiet_libraries(quiet)
    data_dir = D.check_dataset_dir(cfg.data)
    device, precision = device_and_precision(cfg)
    main = state().is_main_process

    checkpoint = None
    previous: RunRecord | None = None
    if resuming:
        assert run_dir is not None
        previous, checkpoint = resume_point(run_dir)

    set_seed(cfg.seed)
    base_resolved = resolve_base(cfg.base)
    model, tokenizer = load_model(base_resolved, dtype=precision if device.startswith("cuda") else "fp32",
                                  device=None if cfg.load_in_4bit else device,
                                  load_in_4bit=cfg.load_in_4bit, trainable=True)
    template = D.load_template(data_dir, cfg.prompt, tokenizer)
    encoded = {s: D.encode_split(tokenizer, template, D.read_split(data_dir, s), cfg.max_length)
               for s in D.SPLITS if s == "train" or (data_dir / f"{s}.jsonl").exists()}
    if not encoded["train"].examples:
        raise ConfigError(f"{data_dir}/train.jsonl has no examples")
    data_manifest = D.manifest(data_dir, encoded, getattr(template, "name", None)).to_dict()

    if resuming:
        old = (run_dir / "data_manifest.json").read_text(encoding="utf-8")
        import json

        old_hashes = {f["name"]: f["sha256"] for f in json.loads(old)["files"]}
        new_hashes = {f["name"]: f["sha256"] for f in data_manifest["files"]}
        if old_hashes != new_hashes:
            raise ConfigError(f"the dataset {data_dir} changed since run {run_dir.name} began; "
                              "resume needs the same data (or start a new run)")
    else:
        run_dir = shared_run_dir(cfg, cfg.name or default_name(cfg))
    assert run_dir is not None

    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model, targets = wrap_model(model, cfg)
    batching = cfg.batching
    if batching == "packed" and not D.packing_supported(model):
        attn = getattr(model.config, "_attn_implementation", None)
        warnings.warn(f"packed batches need a mask-based attention ({', '.join(D.PACKABLE_ATTENTION)}); "
                      f"the model uses {attn}, so batches are length-grouped instead", stacklevel=2)
        batching = "grouped"
    trainable, total = model.get_nb_trainable_parameters()
    lr = cfg.resolved_lr(is_tiny(base_resolved))

    world = state().num_processes
    per_epoch = math.ceil(len(encoded["train"].examples) / (cfg.batch_size * world))
    updates_per_epoch = max(1, per_epoch // cfg.grad_accum)
    total_steps = cfg.max_steps or math.ceil(updates_per_epoch * cfg.epochs)

    tracker = None
    record: RunRecord | None = None
    if main:
        begun = previous or RunRecord(name=run_dir.name, status="running", created=now_iso(),
                                      updated=now_iso())
        record = replace(
            begun, name=run_dir.name, status="running", pid=os.getpid(), host=platform.node(),
            base=cfg.base, base_resolved=base_resolved, method=cfg.method, target_modules=targets,
            trainable_params=trainable, total_params=total, lr=lr, precision=precision,
            batching=batching, total_steps=total_steps, run_dir=str(run_dir),
            resumed_from=[*begun.resumed_from, *([checkpoint.name] if checkpoint else [])],
        )
        if not resuming:
            write_text_atomic(run_dir / "config.yaml", cfg.dump())
            write_json_atomic(run_dir / "data_manifest.json", data_manifest)
        write_json_atomic(run_dir / "environment.json", environment())
        if cfg.mlflow:
            tracker = start_tracker(cfg, record, run_dir, cfg.method, {
                "lr_resolved": lr, "precision_resolved": precision, "targets": ",".join(targets),
                "trainable_params": trainable, "base_resolved": base_resolved,
                "train_examples": len(encoded["train"].examples)})
        record.save(run_dir)

    recorder = RunRecorder(run_dir, tracker,
                           resume_step=int(checkpoint.name.rsplit("-", 1)[1]) if checkpoint else None)
    use_cpu = device == "cpu"
    args = TrainingArguments(
        **trainer_arguments(cfg, run_dir, lr=lr, total_steps=total_steps, precision=precision,
                            evaluate="validation" in encoded, quiet=quiet, use_cpu=use_cpu),
        neftune_noise_alpha=cfg.neftune_noise_alpha,
        remove_unused_columns=False,
        ddp_find_unused_parameters=False if world > 1 else None,
    )
    collator = D.make_collator(tokenizer, pad_to_multiple_of=None if use_cpu else 8)
    train_collator = D.PackedCollator(tokenizer.pad_token_id, cfg.max_length) if batching == "packed" else collator
    trainer = TsukekuTrainer(
        model=model,
        args=args,
        data_collator=train_collator,
        train_dataset=D.ExampleDataset(encoded["train"]),
        eval_dataset=D.ExampleDataset(encoded["validation"]) if "validation" in encoded else None,
        processing_class=tokenizer,
        callbacks=[recorder, *(callbacks or [])],
        train_lengths=encoded["train"].lengths,
        batching=batching,
        eval_collator=collator,
    )
    if quiet:
        trainer.remove_callback(PrinterCallback)

    result = train_recorded(trainer, model, checkpoint=checkpoint, record=record, run_dir=run_dir,
                            tracker=tracker, cfg=cfg, device=device)

    # evaluation of the 付句 tokens, with and without the adapter
    evaluation: dict[str, Any] = {}
    eval_bs = cfg.eval_batch_size or cfg.batch_size
    t0 = time.perf_counter()
    for split in ("validation", "test"):
        if split in encoded and encoded[split].examples:
            evaluation[split] = target_loss(model, encoded[split].examples, collator, eval_bs)
            with model.disable_adapter():
                evaluation[f"{split}_base"] = target_loss(model, encoded[split].examples, collator, eval_bs)
    train_rows = [r for r in recorder.rows if r.get("kind") == "train"]
    evaluation["train"] = {
        "steps": trainer.state.global_step,
        "tokens": recorder.tokens_end - (recorder.tokens_start or 0),
        "tokens_total": trainer.state.num_input_tokens_seen,
        "seconds": round(recorder.train_seconds, 3),
        "tokens_per_s": round(recorder.tokens_per_second, 1),
        "final_loss": train_rows[-1]["loss"] if train_rows else float(result.training_loss),
        "mean_loss": float(result.training_loss),
        "eval_seconds": round(time.perf_counter() - t0, 2),
    }
    if "validation" in evaluation and evaluation.get("validation_base"):
        b, t = evaluation["validation_base"]["loss"], evaluation["validation"]["loss"]
        evaluation["validation_loss_reduction"] = (b - t) / b
    if "test" in evaluation and evaluation.get("test_base"):
        b, t = evaluation["test_base"]["loss"], evaluation["test"]["loss"]
        evaluation["test_loss_reduction"] = (b - t) / b

    if record is not None:
        metrics = loss_metrics(evaluation)
        metrics.update({k: v for k, v in evaluation.items() if isinstance(v, float)})
        metrics["train_tokens_per_s"] = evaluation["train"]["tokens_per_s"]
        save_outputs(model, tokenizer, template, evaluation, run_dir=run_dir, record=record,
                     tracker=tracker, cfg=cfg, manifest=data_manifest,
                     summary_keys=("validation", "test", "validation_base", "test_base"),
                     metrics=metrics, step=trainer.state.global_step)
    del trainer
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return RunResult(run_dir, evaluation, record.to_dict() if record is not None else {})


__all__ = ["ModelError", "OutOfMemory", "RunResult", "train"]
