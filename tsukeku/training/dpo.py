"""Preference tuning (`tsukeku train --method dpo`): TRL's DPOTrainer continues an SFT run's
adapter on preference pairs, recorded like every run (run dir, run.json through RunRecord,
config.yaml, metrics.jsonl, MLflow, model card, checkpoints to resume from, merge).

The reference model is the SFT adapter itself, kept small: the SFT adapter is loaded once as the
trainable `default` adapter, and TRL adds a frozen copy named `ref` beside it on the same base
weights (one base in memory, two adapters) and computes the reference log-probabilities with
`ref` active. The run saves only `default`: an adapter of the SFT's method on the SFT's base,
served like any other (`Composer.load(base, run_dir)`, the models file).
"""

from __future__ import annotations

import json
import math
import os
import platform
import warnings
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from tsukeku.errors import ConfigError, DataError
from tsukeku.io import iter_jsonl, write_json_atomic, write_text_atomic
from tsukeku.training.config import TrainConfig
from tsukeku.training.runs import RunRecord, find_run, now_iso
from tsukeku.training.tracking import RunRecorder

REQUIRED = ("prompt", "chosen", "rejected")
REFERENCE = "ref"  # the name TRL gives the frozen copy of the SFT adapter


# -- preference pairs -------------------------------------------------------------------------


def read_preferences(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The pairs of a preference file (JSON Lines with string `prompt`, `chosen`, `rejected`),
    or a DataError naming the file and line."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"preference file {p} does not exist; make one with `tsukeku arena "
                        "export-preferences` or `tsukeku data preferences`")
    rows = []
    for n, row in iter_jsonl(p):
        bad = [k for k in REQUIRED if not isinstance(row, dict) or not isinstance(row.get(k), str)
               or not row[k]]
        if bad:
            raise DataError(f"{p}:{n}: a preference pair needs non-empty strings "
                            f"{', '.join(REQUIRED)} (missing or bad: {', '.join(bad)})")
        rows.append(row)
    if not rows:
        raise DataError(f"preference file {p} holds no pairs")
    return rows


def split_pairs(rows: list[dict[str, Any]], share: float, seed: int) -> tuple[list, list]:
    """(train, eval): a seeded `share` of the pairs held out (none when fewer than 10)."""
    n_eval = int(round(len(rows) * share)) if len(rows) >= 10 else 0
    order = np.random.default_rng(seed).permutation(len(rows))
    held = set(order[:n_eval].tolist())
    return ([r for i, r in enumerate(rows) if i not in held],
            [r for i, r in enumerate(rows) if i in held])


# -- scoring: the implicit reward β·(log π − log π_ref) --------------------------------------


def pair_logps(model: Any, tokenizer: Any, rows: list[dict[str, Any]], max_length: int,
               batch_size: int = 16) -> np.ndarray:
    """Summed log-probability of each pair's chosen and rejected completion after its prompt
    (shape (n, 2)), encoded as SFT encodes a 付句 (`training.data.encode_pair`: prompt and
    completion tokenized apart, then eos) and scored by `evaluate.target_nll`."""
    from tsukeku.training.data import encode_pair, make_collator
    from tsukeku.training.evaluate import target_nll

    examples = [encode_pair(tokenizer, r["prompt"], r[k], max_length)[0]
                for r in rows for k in ("chosen", "rejected")]
    nll = target_nll(model, examples, make_collator(tokenizer), batch_size)
    return -np.array([total for total, _ in nll], dtype=float).reshape(-1, 2)


def preference_accuracy(policy: np.ndarray, reference: np.ndarray | None = None) -> float:
    """Share of pairs whose implicit reward margin (log π − log π_ref of chosen minus that of
    rejected; β > 0 does not change its sign) is positive, a tie counting one half. Without a
    reference: the share where the model gives chosen the higher likelihood."""
    margin = policy[:, 0] - policy[:, 1]
    if reference is not None:
        margin = margin - (reference[:, 0] - reference[:, 1])
    if not len(margin):
        return float("nan")
    return float(np.mean(np.where(margin > 0, 1.0, np.where(margin == 0, 0.5, 0.0))))


@contextmanager
def active_adapter(model: Any, name: str | None):
    """`model` (a PeftModel) with adapter `name` active, or with none (`None`: the base)."""
    if name is None:
        with model.disable_adapter():
            yield model
        return
    before = model.active_adapter
    model.set_adapter(name)
    try:
        yield model
    finally:
        model.set_adapter(before)


# -- the run ----------------------------------------------------------------------------------


def sft_source(ref: str, runs_dir: str) -> tuple[Path, Path | None]:
    """(adapter dir, run dir or None) of the SFT adapter a DPO run continues."""
    from tsukeku.errors import ModelError
    from tsukeku.models.loader import resolve_adapter_dir

    try:
        run = find_run(ref, runs_dir)
    except ConfigError:
        run = None
    try:
        return resolve_adapter_dir(run or ref), run
    except ModelError:
        raise ConfigError(f"no SFT adapter {ref!r} to continue: give a completed training run "
                          "(`tsukeku runs list`) or a PEFT adapter directory with --adapter") from None


def run_dpo(cfg: TrainConfig, *, run_dir: Path | None, resuming: bool, quiet: bool,
            callbacks: list[Any] | None = None):
    """Runs (or resumes) a DPO job; returns job.RunResult."""
    import torch
    from transformers import PrinterCallback, set_seed
    from trl import DPOConfig, DPOTrainer

    from tsukeku.models.loader import adapter_config, is_tiny, load_model, trained_base
    from tsukeku.prompts import find_template
    from tsukeku.training import data as D
    from tsukeku.training.data import sha256_file
    from tsukeku.training.environment import environment
    from tsukeku.training.job import default_name
    from tsukeku.training.lifecycle import (
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

    quiet_libraries(quiet)
    # TRL passes gradient_checkpointing, which transformers renames in v6 (a warning per call)
    warnings.filterwarnings("ignore", message=".*gradient_checkpointing.*deprecated.*",
                            category=FutureWarning)
    opts = cfg.dpo
    assert opts.preferences and opts.adapter  # TrainConfig refuses dpo without them
    adapter_dir, sft_run = sft_source(opts.adapter, cfg.runs_dir)
    pairs = read_preferences(opts.preferences)
    # config.yaml names both by absolute path: a resume from another directory finds them
    opts.adapter = str((sft_run or adapter_dir).resolve())
    opts.preferences = str(Path(opts.preferences).expanduser().resolve())
    if quiet:
        import datasets

        datasets.disable_progress_bars()
    data_dir = D.check_dataset_dir(cfg.data)
    device, precision = device_and_precision(cfg)
    main = state().is_main_process

    checkpoint, previous = None, None
    if resuming:
        assert run_dir is not None
        previous, checkpoint = resume_point(run_dir)
        old = json.loads((run_dir / "data_manifest.json").read_text(encoding="utf-8"))
        if old.get("preferences", {}).get("sha256") != sha256_file(Path(opts.preferences)):
            raise ConfigError(f"the preference file {opts.preferences} changed since run "
                              f"{run_dir.name} began; resume needs the same pairs (or start a new run)")

    set_seed(cfg.seed)
    sft_info = json.loads((sft_run / "run.json").read_text(encoding="utf-8")) if sft_run else {}
    base = trained_base(adapter_dir)
    model, tokenizer = load_model(base, dtype=precision if device.startswith("cuda") else "fp32",
                                  device=device, adapter=adapter_dir, trainable=True)
    template = find_template(adapter_dir, sft_run, tokenizer=tokenizer)
    encoded = {s: D.encode_split(tokenizer, template, D.read_split(data_dir, s), cfg.max_length)
               for s in ("validation", "test") if (data_dir / f"{s}.jsonl").exists()}
    train_pairs, eval_pairs = split_pairs(pairs, opts.eval_share, cfg.seed)
    manifest = D.manifest(data_dir, encoded, getattr(template, "name", None)).to_dict()
    manifest["preferences"] = {
        "path": str(Path(opts.preferences).resolve()), "sha256": sha256_file(Path(opts.preferences)),
        "pairs": len(pairs), "train_pairs": len(train_pairs), "eval_pairs": len(eval_pairs),
        "synthetic": sum(1 for r in pairs if r.get("synthetic")),
    }
    manifest["sft_adapter"] = str(adapter_dir.resolve())
    if not resuming:
        run_dir = shared_run_dir(cfg, cfg.name or default_name(cfg))
    assert run_dir is not None

    world = state().num_processes
    updates = max(1, math.ceil(len(train_pairs) / (cfg.batch_size * world)) // cfg.grad_accum)
    total_steps = cfg.max_steps or math.ceil(updates * cfg.epochs)
    lr = cfg.resolved_lr(is_tiny(base))
    trainable, total = model.get_nb_trainable_parameters()
    sft_method = str(adapter_config(adapter_dir).peft_type).split(".")[-1].lower()

    tracker, record = None, None
    if main:
        begun = previous or RunRecord(name=run_dir.name, status="running", created=now_iso(),
                                      updated=now_iso())
        record = replace(
            begun, name=run_dir.name, status="running", pid=os.getpid(), host=platform.node(),
            base=sft_info.get("base", cfg.base), base_resolved=base, method="dpo",
            target_modules=sorted(adapter_config(adapter_dir).target_modules or []),
            trainable_params=trainable, total_params=total, lr=lr, precision=precision,
            batching="padded", total_steps=total_steps, run_dir=str(run_dir),
            resumed_from=[*begun.resumed_from, *([checkpoint.name] if checkpoint else [])],
        )
        record.extra.update(sft_adapter=str(adapter_dir.resolve()), adapter_method=sft_method,
                            sft_run=str(sft_run) if sft_run else None)
        if not resuming:
            write_text_atomic(run_dir / "config.yaml", cfg.dump())
            write_json_atomic(run_dir / "data_manifest.json", manifest)
        write_json_atomic(run_dir / "environment.json", environment())
        if cfg.mlflow:
            tracker = start_tracker(cfg, record, run_dir, "dpo", {
                "lr_resolved": lr, "precision_resolved": precision, "base_resolved": base,
                "sft_adapter": str(adapter_dir), "train_pairs": len(train_pairs),
                "eval_pairs": len(eval_pairs)})
        record.save(run_dir)

    from datasets import Dataset

    def dataset(rows: list[dict[str, Any]]) -> Dataset:
        return Dataset.from_list([{k: r[k] for k in REQUIRED} for r in rows])

    use_cpu = device == "cpu"
    args = DPOConfig(
        **trainer_arguments(cfg, run_dir, lr=lr, total_steps=total_steps, precision=precision,
                            evaluate=bool(eval_pairs), quiet=quiet, use_cpu=use_cpu),
        beta=opts.beta,
        loss_type=[opts.loss_type, *(["sft"] if opts.sft_weight else [])],
        loss_weights=[1.0, opts.sft_weight] if opts.sft_weight else None,
        max_length=cfg.max_length,
        # TRL turns it on by default; a run takes the project's default (off) unless asked
        gradient_checkpointing=cfg.gradient_checkpointing,
    )
    recorder = DpoRecorder(run_dir, tracker,
                           resume_step=int(checkpoint.name.rsplit("-", 1)[1]) if checkpoint else None)
    trainer = DPOTrainer(model=model, args=args, train_dataset=dataset(train_pairs),
                         eval_dataset=dataset(eval_pairs) if eval_pairs else None,
                         processing_class=tokenizer, callbacks=[recorder, *(callbacks or [])])
    if quiet:
        trainer.remove_callback(PrinterCallback)
    result = train_recorded(trainer, model, checkpoint=checkpoint, record=record, run_dir=run_dir,
                            tracker=tracker, cfg=cfg, device=device)
    model = trainer.model
    evaluation = evaluate_run(model, tokenizer, encoded, eval_pairs, cfg)
    train_rows = [r for r in recorder.rows if r.get("kind") == "train"]
    evaluation["train"] = {
        "steps": trainer.state.global_step, "pairs": len(train_pairs),
        "seconds": round(recorder.train_seconds, 3),
        "tokens": recorder.tokens_end - (recorder.tokens_start or 0),
        "tokens_per_s": round(recorder.tokens_per_second, 1),
        "final_loss": train_rows[-1]["loss"] if train_rows else float(result.training_loss),
        "mean_loss": float(result.training_loss),
    }
    if REFERENCE in model.peft_config:
        model.delete_adapter(REFERENCE)  # what is saved and merged is the tuned adapter alone

    if record is not None:
        metrics = loss_metrics(evaluation)
        metrics.update({f"preference_{k}": v for k, v in evaluation.get("preferences", {}).items()
                        if isinstance(v, float)})
        save_outputs(model, tokenizer, template, evaluation, run_dir=run_dir, record=record,
                     tracker=tracker, cfg=cfg, manifest=manifest,
                     summary_keys=("validation", "test", "validation_base", "test_base",
                                   "validation_sft", "test_sft"),
                     metrics=metrics, step=trainer.state.global_step)
    del trainer
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return RunResult(run_dir, evaluation, record.to_dict() if record is not None else {})


def evaluate_run(model: Any, tokenizer: Any, encoded: dict[str, Any], eval_pairs: list[dict],
                 cfg: TrainConfig) -> dict[str, Any]:
    """Held-out 付句 loss with the tuned adapter, the SFT adapter (`_sft`) and none (`_base`);
    on the held-out pairs, the implicit-reward accuracy of the tuned and the SFT adapter, both
    against the base (one reference for before and after), and of the tuned one against the SFT
    (TRL's `rewards/accuracies`)."""
    from tsukeku.training.data import make_collator
    from tsukeku.training.evaluate import target_loss

    collator = make_collator(tokenizer)
    bs = cfg.eval_batch_size or cfg.batch_size
    names = {"": "default", "_sft": REFERENCE, "_base": None}
    out: dict[str, Any] = {}
    for split, enc in encoded.items():
        if enc.examples:
            for suffix, name in names.items():
                with active_adapter(model, name):
                    out[f"{split}{suffix}"] = target_loss(model, enc.examples, collator, bs)
    if "validation_sft" in out:
        s, t = out["validation_sft"]["loss"], out["validation"]["loss"]
        out["validation_loss_change_vs_sft"] = (t - s) / s
    if eval_pairs:
        logps = {}
        for suffix, name in names.items():
            with active_adapter(model, name):
                logps[suffix] = pair_logps(model, tokenizer, eval_pairs, cfg.max_length, bs)
        out["preferences"] = {
            "pairs": len(eval_pairs),
            "accuracy_vs_base": preference_accuracy(logps[""], logps["_base"]),
            "accuracy_vs_base_sft": preference_accuracy(logps["_sft"], logps["_base"]),
            "accuracy_vs_sft": preference_accuracy(logps[""], logps["_sft"]),
            "likelihood_accuracy": preference_accuracy(logps[""]),
            "likelihood_accuracy_sft": preference_accuracy(logps["_sft"]),
        }
    return out


class DpoRecorder(RunRecorder):
    """RunRecorder, with TRL's DPO figures (rewards/…, logps/…) kept in each train row."""

    def on_log(self, args, state, control, logs=None, **kw):
        before = len(self.rows)
        super().on_log(args, state, control, logs=logs, **kw)
        if len(self.rows) == before or not logs or self.rows[-1].get("kind") != "train":
            return
        extra = {k.replace("/", "_"): v for k, v in logs.items()
                 if k.startswith(("rewards/", "logps/")) and isinstance(v, (int, float))}
        if extra and state.is_world_process_zero:
            from tsukeku.io import write_jsonl_atomic

            self.rows[-1].update(extra)
            write_jsonl_atomic(self.path, self.rows)
            if self.tracker is not None:
                self.tracker.log_metrics(extra, step=state.global_step)
