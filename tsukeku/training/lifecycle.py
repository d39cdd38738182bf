"""The lifecycle every training run shares, whatever its trainer (the PEFT job, DPO): device and
precision, the run dir (named once under accelerate), resuming from the last checkpoint, the
MLflow run, training with the run record kept up to date on failure, and the saved outputs
(adapter, tokenizer, prompt, eval.json, merge, model card, run.json, tracker)."""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tsukeku.errors import ConfigError, TsukekuError
from tsukeku.io import write_dir_atomic, write_json_atomic, write_text_atomic
from tsukeku.training.config import TrainConfig
from tsukeku.training.runs import RunRecord, new_run_dir, now_iso


class OutOfMemory(TsukekuError):
    """Training ran out of (GPU or host) memory."""


@dataclass
class RunResult:
    run_dir: Path
    evaluation: dict[str, Any]
    info: dict[str, Any]  # run.json as written (empty on the other ranks under accelerate)


def state():
    """accelerate's process state. Created with cpu=True on a machine without CUDA: its first
    creation decides for the whole process (the Trainer's included), and without the flag a
    torchrun/accelerate CPU launch would not be seen as distributed (each rank alone)."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def device_and_precision(cfg: TrainConfig) -> tuple[str, str]:
    import torch

    cuda = torch.cuda.is_available()
    # under accelerate each process has its own GPU (cuda:<local rank>)
    device = str(state().device) if cuda else "cpu"
    precision = cfg.precision
    if precision == "auto":
        precision = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if cuda else "fp32"
    if precision == "fp16" and not cuda:
        raise ConfigError("precision fp16 needs a CUDA GPU; use fp32 on CPU")
    return device, precision


def is_oom(err: BaseException) -> bool:
    import torch

    if isinstance(err, torch.OutOfMemoryError):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def oom_message(cfg: TrainConfig, device: str) -> str:
    tips = [f"a smaller --batch-size (now {cfg.batch_size}) with --grad-accum to keep the "
            "effective batch", f"a shorter --max-length (now {cfg.max_length})",
            "--gradient-checkpointing"]
    if device.startswith("cuda") and not cfg.load_in_4bit:
        tips.append("--load-in-4bit (QLoRA)")
    return f"out of memory while training on {device}; try " + ", ".join(tips)


def shared_run_dir(cfg: TrainConfig, name: str) -> Path:
    """The main process makes the run dir; under accelerate the others are told its path."""
    st = state()
    path = [str(new_run_dir(Path(cfg.runs_dir), name))] if st.is_main_process else [None]
    if st.num_processes > 1:
        from accelerate.utils import broadcast_object_list

        broadcast_object_list(path)
    return Path(path[0])


def quiet_libraries(quiet: bool) -> None:
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


def resume_point(run_dir: Path) -> tuple[RunRecord, Path]:
    """The record of an unfinished run and its last complete checkpoint, or a ConfigError."""
    from tsukeku.training.tracking import latest_checkpoint

    previous = RunRecord.load(run_dir)
    if previous.status == "completed":
        raise ConfigError(f"run {run_dir} has already completed; nothing to resume")
    checkpoint = latest_checkpoint(run_dir / "checkpoints")
    if checkpoint is None:
        raise ConfigError(f"run {run_dir} has no complete checkpoint to resume from; "
                          "start a new run (checkpoints are written every --save-steps)")
    return previous, checkpoint


def start_tracker(cfg: TrainConfig, record: RunRecord, run_dir: Path, method: str,
                  params: dict[str, Any]) -> Any:
    """Starts (or, on resume, continues) the run's MLflow run, notes it in `record` and logs the
    config with `params`; returns the tracker."""
    from tsukeku.training.tracking import MlflowTracker, default_tracking_uri

    uri = cfg.tracking_uri or default_tracking_uri(Path(cfg.runs_dir))
    tracker = MlflowTracker(uri, cfg.experiment, artifact_root=Path(cfg.runs_dir) / "mlartifacts")
    run_id = tracker.start(run_dir.name, (record.mlflow or {}).get("run_id"),
                           tags={"tsukeku.run_dir": str(run_dir.resolve()), "tsukeku.method": method})
    record.mlflow = {"tracking_uri": uri, "experiment": cfg.experiment, "run_id": run_id}
    tracker.log_params({**cfg.flat(), **params})
    return tracker


def trainer_arguments(cfg: TrainConfig, run_dir: Path, *, lr: float, total_steps: int,
                      precision: str, evaluate: bool, quiet: bool, use_cpu: bool) -> dict[str, Any]:
    """The TrainingArguments every run's trainer takes from its config (TRL's configs extend
    TrainingArguments); `evaluate`: whether there is an eval set to evaluate every eval_steps."""
    return dict(
        output_dir=str(run_dir / "checkpoints"),
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.eval_batch_size or cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=lr,
        lr_scheduler_type=cfg.schedule,
        warmup_steps=int(round(cfg.warmup_ratio * total_steps)),
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        logging_steps=cfg.logging_steps,
        eval_strategy="steps" if cfg.eval_steps and evaluate else "no",
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
        use_cpu=use_cpu,
    )


def train_recorded(trainer: Any, model: Any, *, checkpoint: Path | None, record: RunRecord | None,
                   run_dir: Path, tracker: Any, cfg: TrainConfig, device: str) -> Any:
    """trainer.train (from `checkpoint` if given); on any exception the run is recorded as
    interrupted or failed (run.json, MLflow) and running out of memory becomes OutOfMemory."""
    from tsukeku.training.trainer import without_kv_cache

    try:
        with without_kv_cache(model):
            return trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    except BaseException as err:
        status = "interrupted" if isinstance(err, KeyboardInterrupt) else "failed"
        if record is not None:
            record.status, record.error = status, str(err)[:2000]
            record.save(run_dir)
            if tracker is not None:
                tracker.end("KILLED" if status == "interrupted" else "FAILED")
        if is_oom(err):
            raise OutOfMemory(oom_message(cfg, device)) from None
        raise


def save_outputs(model: Any, tokenizer: Any, template: Any, evaluation: dict[str, Any], *,
                 run_dir: Path, record: RunRecord, tracker: Any, cfg: TrainConfig,
                 manifest: dict[str, Any], summary_keys: tuple[str, ...],
                 metrics: dict[str, Any], step: int) -> None:
    """What a completed run leaves (main process): adapter, tokenizer, prompt.json, eval.json,
    the merged model if asked, run.json completed with the `summary_keys` losses, the model card;
    `metrics` and the run dir go to the tracker, whose run ends."""
    from tsukeku.training.card import model_card

    write_dir_atomic(run_dir / "adapter", lambda d: model.save_pretrained(d, safe_serialization=True))
    write_dir_atomic(run_dir / "tokenizer", lambda d: tokenizer.save_pretrained(d))
    save_template(template, run_dir)
    write_json_atomic(run_dir / "eval.json", evaluation)
    if cfg.merge:
        from tsukeku.training.merge import merge_run

        merge_run(run_dir, run_dir / "merged", model=model, tokenizer=tokenizer)
    record.status, record.error, record.finished = "completed", None, now_iso()
    record.summary = {k: evaluation[k]["loss"] for k in summary_keys if k in evaluation}
    record.updated = now_iso()
    write_text_atomic(run_dir / "README.md", model_card(
        record.to_dict(), cfg.flat(), evaluation, manifest, read_json(run_dir / "environment.json")))
    record.save(run_dir)
    if tracker is not None:
        tracker.log_metrics(metrics, step=step)
        tracker.log_artifacts(run_dir)
        tracker.end("FINISHED")


def loss_metrics(evaluation: dict[str, Any]) -> dict[str, Any]:
    """`<name>_loss` for every entry of eval.json that has a loss (the tracker's metrics)."""
    return {f"{k}_loss": v["loss"] for k, v in evaluation.items() if isinstance(v, dict) and "loss" in v}


def save_template(template: Any, run_dir: Path) -> None:
    """prompt.json next to the adapter (the template's own save, made atomic by the rename)."""
    tmp = Path(tempfile.mkdtemp(prefix=".prompt.", dir=run_dir))
    try:
        template.save(tmp)
        os.replace(tmp / "prompt.json", run_dir / "prompt.json")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_json(path: Path) -> dict[str, Any]:
    import json

    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
