"""SageMaker training entry point: `python -m tsukeku.training.sagemaker_entry`.

SageMaker mounts the dataset channel at SM_CHANNEL_TRAIN, writes the hyperparameters (as
strings) to /opt/ml/input/config/hyperparameters.json and uploads SM_MODEL_DIR (model.tar.gz)
and SM_OUTPUT_DATA_DIR (output.tar.gz) when the job ends. The model directory gets adapter/,
merged/ (unless merge=false), tokenizer/, prompt.json, the run files and the manifest
models.yaml (`training.manifest`: the base as given, the adapter, the merged weights), which is
what `tsukeku serve` on that directory serves. A channel named `base` (SM_CHANNEL_BASE)
may hold the base model. Runs are kept under /opt/ml/checkpoints when that exists (SageMaker
syncs it with S3 for managed spot training), so a restarted job resumes its interrupted run.

The /opt/ml prefix can be moved with $TSUKEKU_SM_PREFIX (tests use a temporary tree).
"""

from __future__ import annotations

import json
import shutil
import sys
import traceback
from pathlib import Path
from typing import Any

from tsukeku.errors import ConfigError, TsukekuError
from tsukeku.io import write_text_atomic
from tsukeku.settings import env

FALSY = {"false", "0", "no", "off", ""}
TRUTHY = {"true", "1", "yes", "on"}


def sm_prefix() -> Path:
    return env().sm_prefix


def parse_value(raw: Any) -> Any:
    """SageMaker hands every hyperparameter over as a string — JSON-encoded by the framework
    estimators ('"lora"', '3', 'true', '["q","v"]'), plain by the generic one ('lora')."""
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        pass
    low = raw.strip().lower()
    if low in TRUTHY:
        return True
    if low in FALSY - {""}:
        return False
    return raw


def read_hyperparameters(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path} is not valid JSON: {err}") from None
    # SageMaker adds its own sagemaker_* keys (program, region, submit dir …)
    return {k.replace("-", "_"): parse_value(v) for k, v in raw.items() if not k.startswith("sagemaker_")}


def _incomplete_run(runs_dir: Path) -> Path | None:
    from tsukeku.training.runs import list_runs
    from tsukeku.training.tracking import latest_checkpoint

    for run in reversed(list_runs(runs_dir)):
        if run.get("status") != "completed" and latest_checkpoint(Path(run["run_dir"]) / "checkpoints"):
            return Path(run["run_dir"])
    return None


def run_job(prefix: Path | None = None) -> Path:
    """Trains as the hyperparameters say and fills SM_MODEL_DIR; returns the run dir."""
    from tsukeku.training.config import build_config
    from tsukeku.training.job import train
    from tsukeku.training.manifest import run_manifest

    sm = env()
    prefix = prefix or sm.sm_prefix
    hp = read_hyperparameters(prefix / "input" / "config" / "hyperparameters.json")
    train_dir = sm.sm_channel_train or prefix / "input" / "data" / "train"
    model_dir = sm.sm_model_dir or prefix / "model"
    output_dir = sm.sm_output_data_dir or prefix / "output" / "data"
    checkpoints = prefix / "checkpoints"
    runs_dir = checkpoints / "runs" if checkpoints.is_dir() else output_dir / "runs"
    merge = bool(hp.pop("merge", True))
    quiet = bool(hp.pop("quiet", True))
    hp.setdefault("runs_dir", str(runs_dir))
    if sm.sm_channel_base and "base" not in hp:
        hp["base"] = str(sm.sm_channel_base)
    hp.setdefault("data", str(train_dir))
    hp.setdefault("name", sm.training_job_name or None)
    cfg = build_config(None, **hp)

    interrupted = _incomplete_run(Path(cfg.runs_dir))
    result = train(resume=interrupted, quiet=quiet) if interrupted else train(cfg, quiet=quiet)
    run_dir = result.run_dir

    model_dir.mkdir(parents=True, exist_ok=True)
    for name in ("adapter", "tokenizer"):
        _copy(run_dir / name, model_dir / name)
    for name in ("prompt.json", "README.md", "eval.json", "config.yaml", "run.json"):
        _copy(run_dir / name, model_dir / name)
    if merge:
        from tsukeku.training.merge import merge_run

        merge_run(run_dir, model_dir / "merged", overwrite=True)
    # models.yaml: what the endpoint on this model directory serves (merged/ when written, else
    # the named base + adapter/); a server never guesses the base
    run_manifest(run_dir, model_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    for name in ("metrics.jsonl", "eval.json", "data_manifest.json", "environment.json", "run.json"):
        _copy(run_dir / name, output_dir / name)
    return run_dir


def _copy(src: Path, dst: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, dst, dirs_exist_ok=True)
    elif src.exists():
        shutil.copy2(src, dst)


def main() -> int:
    prefix = sm_prefix()
    try:
        run_dir = run_job(prefix)
    except TsukekuError as err:
        _failure(prefix, f"error: {err}")
        return err.exit_code
    except Exception:
        _failure(prefix, traceback.format_exc())
        return 1
    print(f"tsukeku: training finished; run recorded in {run_dir}")
    return 0


def _failure(prefix: Path, text: str) -> None:
    """SageMaker shows /opt/ml/output/failure as the job's failure reason."""
    print(text, file=sys.stderr)
    try:
        write_text_atomic(prefix / "output" / "failure", text[-1000:])
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
