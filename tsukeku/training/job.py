"""A training run: the HF Trainer + PEFT on a tsukeku dataset, recorded in a run directory and in
MLflow, resumable from its last complete checkpoint.

Works the same under `accelerate launch` (DDP, DeepSpeed): the main process names the run dir
and writes every file; the Trainer does the distribution."""

from __future__ import annotations

import math
import os
import platform
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tsukeku.errors import ConfigError, ModelError, TsukekuError
from tsukeku.io import write_dir_atomic, write_json_atomic, write_text_atomic
from tsukeku.training.config import TrainConfig, load_run_config
from tsukeku.training.runs import RunRecord, find_run, new_run_dir, now_iso


class OutOfMemory(TsukekuError):
    """Training ran out of (GPU or host) memory."""


@dataclass
class RunResult:
    run_dir: Path
    evaluation: dict[str, Any]
    info: dict[str, Any]  # run.json as written (empty on the other ranks under accelerate)


def _state():
    """accelerate's process state. Created with cpu=True on a machine without CUDA: its first
    creation decides for the whole process (the Trainer's included), and without the flag a
    torchrun/accelerate CPU launch would not be seen as distributed (each rank alone)."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def _device_and_precision(cfg: TrainConfig) -> tuple[str, str]:
    import torch

    cuda = torch.cuda.is_available()
    # under accelerate each process has its own GPU (cuda:<local rank>)
    device = str(_state().device) if cuda else "cpu"
    precision = cfg.precision
    if precision == "auto":
        precision = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if cuda else "fp32"
    if precision == "fp16" and not cuda:
        raise ConfigError("precision fp16 needs a CUDA GPU; use fp32 on CPU")
    return device, precision


def _is_oom(err: BaseException) -> bool:
    import torch

    if isinstance(err, torch.OutOfMemoryError):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def _oom_message(cfg: TrainConfig, device: str) -> str:
    tips = [f"a smaller --batch-size (now {cfg.batch_size}) with --grad-accum to keep the "
            "effective batch", f"a shorter --max-length (now {cfg.max_length})",
            "--gradient-checkpointing"]
    if device.startswith("cuda") and not cfg.load_in_4bit:
        tips.append("--load-in-4bit (QLoRA)")
    return f"out of memory while training on {device}; try " + ", ".join(tips)


def _shared_run_dir(cfg: TrainConfig, name: str) -> Path:
    """The main process makes the run dir; under accelerate the others are told its path."""
    state = _state()
    path = [str(new_run_dir(Path(cfg.runs_dir), name))] if state.is_main_process else [None]
    if state.num_processes > 1:
        from accelerate.utils import broadcast_object_list

        broadcast_object_list(path)
    return Path(path[0])


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
    from tsukeku.training.tracking import (
        MlflowTracker,
        RunRecorder,
        default_tracking_uri,
        latest_checkpoint,
    )
    from tsukeku.training.trainer import TsukekuTrainer, without_kv_cache

    _quiet_libraries(quiet)
    data_dir = D.check_dataset_dir(cfg.data)
    device, precision = _device_and_precision(cfg)
    main = _state().is_main_process

    checkpoint = None
    previous: RunRecord | None = None
    if resuming:
        assert run_dir is not None
        previous = RunRecord.load(run_dir)
        if previous.status == "completed":
            raise ConfigError(f"run {run_dir} has already completed; nothing to resume")
        checkpoint = latest_checkpoint(run_dir / "checkpoints")
        if checkpoint is None:
            raise ConfigError(f"run {run_dir} has no complete checkpoint to resume from; "
                              "start a new run (checkpoints are written every --save-steps)")

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
        run_dir = _shared_run_dir(cfg, cfg.name or default_name(cfg))
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

    world = _state().num_processes
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
            uri = cfg.tracking_uri or default_tracking_uri(Path(cfg.runs_dir))
            tracker = MlflowTracker(uri, cfg.experiment, artifact_root=Path(cfg.runs_dir) / "mlartifacts")
            prev = (record.mlflow or {}).get("run_id")
            run_id = tracker.start(run_dir.name, prev, tags={"tsukeku.run_dir": str(run_dir.resolve()),
                                                              "tsukeku.method": cfg.method})
            record.mlflow = {"tracking_uri": uri, "experiment": cfg.experiment, "run_id": run_id}
            tracker.log_params({**cfg.flat(), "lr_resolved": lr,
                                "precision_resolved": precision, "targets": ",".join(targets),
                                "trainable_params": trainable, "base_resolved": base_resolved,
                                "train_examples": len(encoded["train"].examples)})
        record.save(run_dir)

    recorder = RunRecorder(run_dir, tracker,
                           resume_step=int(checkpoint.name.rsplit("-", 1)[1]) if checkpoint else None)
    use_cpu = device == "cpu"
    args = TrainingArguments(
        output_dir=str(run_dir / "checkpoints"),
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.eval_batch_size or cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=lr,
        lr_scheduler_type=cfg.schedule,
        warmup_steps=int(round(cfg.warmup_ratio * total_steps)),
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        neftune_noise_alpha=cfg.neftune_noise_alpha,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        logging_steps=cfg.logging_steps,
        eval_strategy="steps" if cfg.eval_steps and "validation" in encoded else "no",
        eval_steps=cfg.eval_steps,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit,
        seed=cfg.seed,
        data_seed=cfg.seed,
        report_to="none",
        disable_tqdm=quiet,
        include_num_input_tokens_seen="non_padding",
        dataloader_num_workers=0,
        remove_unused_columns=False,
        use_cpu=use_cpu,
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

    try:
        with without_kv_cache(model):
            result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    except BaseException as err:
        status = "interrupted" if isinstance(err, KeyboardInterrupt) else "failed"
        if record is not None:
            record.status, record.error = status, str(err)[:2000]
            record.save(run_dir)
            if tracker is not None:
                tracker.end("KILLED" if status == "interrupted" else "FAILED")
        if _is_oom(err):
            raise OutOfMemory(_oom_message(cfg, device)) from None
        raise

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
        from tsukeku.training.card import model_card

        write_dir_atomic(run_dir / "adapter", lambda d: model.save_pretrained(d, safe_serialization=True))
        write_dir_atomic(run_dir / "tokenizer", lambda d: tokenizer.save_pretrained(d))
        _save_template(template, run_dir)
        write_json_atomic(run_dir / "eval.json", evaluation)
        if cfg.merge:
            from tsukeku.training.merge import merge_run

            merge_run(run_dir, run_dir / "merged", model=model, tokenizer=tokenizer)
        record.status, record.error, record.finished = "completed", None, now_iso()
        record.summary = {k: evaluation[k]["loss"] for k in ("validation", "test",
                          "validation_base", "test_base") if k in evaluation}
        record.updated = now_iso()
        write_text_atomic(run_dir / "README.md", model_card(
            record.to_dict(), cfg.flat(), evaluation, data_manifest,
            _read_json(run_dir / "environment.json")))
        record.save(run_dir)
        if tracker is not None:
            flat = {f"{k}_loss": v["loss"] for k, v in evaluation.items()
                    if isinstance(v, dict) and "loss" in v}
            flat.update({k: v for k, v in evaluation.items() if isinstance(v, float)})
            flat["train_tokens_per_s"] = evaluation["train"]["tokens_per_s"]
            tracker.log_metrics(flat, step=trainer.state.global_step)
            tracker.log_artifacts(run_dir)
            tracker.end("FINISHED")
    del trainer
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return RunResult(run_dir, evaluation, record.to_dict() if record is not None else {})


def _quiet_libraries(quiet: bool) -> None:
    """Library chatter off; with `quiet` the weight-loading bars too (the Trainer's bar is
    switched by disable_tqdm)."""
    import logging

    from transformers.utils import logging as hf_logging

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
    if quiet:
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    else:
        hf_logging.set_verbosity_warning()


def _save_template(template: Any, run_dir: Path) -> None:
    """prompt.json next to the adapter (the template's own save, made atomic by the rename)."""
    tmp = Path(tempfile.mkdtemp(prefix=".prompt.", dir=run_dir))
    try:
        template.save(tmp)
        os.replace(tmp / "prompt.json", run_dir / "prompt.json")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _read_json(path: Path) -> dict[str, Any]:
    import json

    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


__all__ = ["ModelError", "OutOfMemory", "RunResult", "train"]
