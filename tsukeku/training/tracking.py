"""Recording a run while it trains: per-step metrics as JSONL in the run dir, the same figures in
MLflow, and a marker in each checkpoint once it is completely written."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from tsukeku.errors import ConfigError
from tsukeku.io import read_jsonl, write_jsonl_atomic, write_text_atomic

CHECKPOINT_DONE = "tsukeku_checkpoint_complete"


class MlflowTracker:
    """One MLflow run per tsukeku run; a resumed run continues the same MLflow run."""

    def __init__(self, tracking_uri: str, experiment: str, artifact_root: Path | None = None):
        import logging

        import mlflow
        from mlflow import MlflowClient

        logging.getLogger("mlflow").setLevel(logging.WARNING)  # no schema-migration chatter
        self.uri = tracking_uri
        mlflow.set_tracking_uri(tracking_uri)
        self.client = MlflowClient(tracking_uri=tracking_uri)
        try:
            exp = self.client.get_experiment_by_name(experiment)
            if exp is None:
                location = artifact_root.resolve().as_uri() if artifact_root else None
                self.experiment_id = self.client.create_experiment(experiment, artifact_location=location)
            else:
                self.experiment_id = exp.experiment_id
        except Exception as err:  # mlflow raises many kinds (connection, REST, SQL)
            raise ConfigError(
                f"cannot reach the MLflow tracking store {tracking_uri}: {err}; "
                "check --tracking-uri or pass --no-mlflow"
            ) from None
        self.run_id: str | None = None

    def start(self, run_name: str, run_id: str | None = None, tags: dict[str, str] | None = None) -> str:
        if run_id is not None:
            try:
                self.client.get_run(run_id)
                self.client.update_run(run_id, status="RUNNING")
                self.run_id = run_id
                return run_id
            except Exception:  # the store changed since the run began: start a new MLflow run
                pass
        run = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags or {})
        self.run_id = run.info.run_id
        return self.run_id

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:6000]) for k, v in params.items()]
        for i in range(0, len(items), 100):
            try:
                self.client.log_batch(self.run_id, params=items[i:i + 100])
            except Exception:  # a resumed run logs the same params again: values are equal
                pass

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        ms = [Metric(k, float(v), now, step) for k, v in metrics.items()
              if isinstance(v, (int, float)) and v == v]
        if ms:
            self.client.log_batch(self.run_id, metrics=ms)

    def log_artifacts(self, run_dir: Path) -> None:
        for item in sorted(run_dir.iterdir()):
            if item.name in ("checkpoints", "merged") or item.name.startswith("."):
                continue
            if item.is_dir():
                self.client.log_artifacts(self.run_id, str(item), artifact_path=item.name)
            else:
                self.client.log_artifact(self.run_id, str(item))

    def end(self, status: str = "FINISHED") -> None:
        if self.run_id is not None:
            self.client.set_terminated(self.run_id, status=status)


def default_tracking_uri(runs_dir: Path) -> str:
    return f"sqlite:///{(runs_dir.resolve() / 'mlflow.db').as_posix()}"


class RunRecorder(TrainerCallback):
    """Writes metrics.jsonl (atomically, after each log), forwards figures to MLflow, counts
    tokens per second of training time (evaluation and checkpoint time left out), and marks each
    checkpoint complete once the Trainer has written all of it."""

    def __init__(self, run_dir: Path, tracker: MlflowTracker | None, resume_step: int | None = None):
        self.path = run_dir / "metrics.jsonl"
        self.tracker = tracker
        rows = read_jsonl(self.path, missing_ok=True)
        if resume_step is not None:  # rows written after the checkpoint by the interrupted process
            rows = [r for r in rows if r.get("step", 0) <= resume_step]
        self.rows = rows
        self.train_seconds = 0.0
        self._ref: float | None = None
        self._tokens_at_log: int | None = None
        self._seconds_at_log = 0.0
        self.tokens_start: int | None = None
        self.tokens_end = 0

    # timing ---------------------------------------------------------------------------------
    def on_train_begin(self, args, state, control, **kw):
        self._ref = time.perf_counter()
        self.tokens_start = self._tokens_at_log = state.num_input_tokens_seen

    def on_step_end(self, args, state, control, **kw):
        now = time.perf_counter()
        if self._ref is not None:
            self.train_seconds += now - self._ref
        self._ref = now
        self.tokens_end = state.num_input_tokens_seen

    def on_evaluate(self, args, state, control, metrics=None, **kw):
        self._ref = time.perf_counter()

    def on_save(self, args, state, control, **kw):
        if state.is_world_process_zero:
            ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if ckpt.is_dir():
                write_text_atomic(ckpt / CHECKPOINT_DONE, f"{state.global_step}\n")
        self._ref = time.perf_counter()

    def on_train_end(self, args, state, control, **kw):
        if state.is_world_process_zero:  # a run too short to log still has its (empty) file
            write_jsonl_atomic(self.path, self.rows)

    @property
    def tokens_per_second(self) -> float:
        tokens = self.tokens_end - (self.tokens_start or 0)
        return tokens / self.train_seconds if self.train_seconds > 0 else 0.0

    # logging --------------------------------------------------------------------------------
    def on_log(self, args, state, control, logs=None, **kw):
        if not state.is_world_process_zero or not logs:
            return
        row: dict[str, Any] = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4)}
        if "loss" in logs:
            tokens = state.num_input_tokens_seen
            window_tokens = tokens - (self._tokens_at_log or 0)
            window_seconds = self.train_seconds - self._seconds_at_log
            self._tokens_at_log, self._seconds_at_log = tokens, self.train_seconds
            row.update(kind="train", loss=logs["loss"], lr=logs.get("learning_rate"),
                       grad_norm=logs.get("grad_norm"), tokens_seen=tokens,
                       tokens_per_s=round(window_tokens / window_seconds, 1) if window_seconds > 0 else None)
        elif any(k.startswith("eval_") for k in logs):
            row.update(kind="eval", **{k: v for k, v in logs.items() if k.startswith("eval_")})
        else:
            return  # the Trainer's end-of-training summary: the run's own summary covers it
        row["time"] = round(time.time(), 3)
        self.rows.append(row)
        write_jsonl_atomic(self.path, self.rows)
        if self.tracker is not None:
            self.tracker.log_metrics({k: v for k, v in row.items()
                                      if k not in ("step", "time", "kind") and v is not None},
                                     step=state.global_step)


def latest_checkpoint(checkpoints: Path) -> Path | None:
    """The newest checkpoint that was completely written (a killed save leaves no marker)."""
    done = []
    for d in checkpoints.glob("checkpoint-*"):
        if (d / CHECKPOINT_DONE).exists() and (d / "trainer_state.json").exists():
            try:
                done.append((int(d.name.rsplit("-", 1)[1]), d))
            except ValueError:
                continue
    return max(done)[1] if done else None
