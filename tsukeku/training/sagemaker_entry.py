"""SageMaker training entry point: `python -m tsukeku.training.sagemaker_entry`.

SageMaker mounts the dataset channel at SM_CHANNEL_TRAIN, writes the hyperparameters (as
strings) to /opt/ml/input/config/hyperparameters.json and uploads SM_MODEL_DIR (model.tar.gz)
and SM_OUTPUT_DATA_DIR (output.tar.gz) when the job ends. The model directory gets adapter/,
merged/ (unless merge=false), tokenizer/, prompt.json, the run files and the manifest
models.yaml (`training.manifest`: the base as given, the adapter, the merged weights), which is
what `tsukeku serve` on that directory serves. A channel named `base` (SM_CHANNEL_BASE)
may hold the base model. With the hyperparameter method=dpo the job continues an SFT adapter on
preference pairs (`tsukeku train --method dpo`): channels `adapter` (SM_CHANNEL_ADAPTER: the
SFT job's model.tar.gz or model directory) and `preferences` (SM_CHANNEL_PREFERENCES: the
pairs file), with `beta`, `loss_type`, `sft_weight` as hyperparameters. Runs are kept under /opt/ml/checkpoints when that exists (SageMaker
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
    if hp.get("method") == "dpo":
        _dpo_channels(hp, sm, prefix)
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


def _dpo_channels(hp: dict[str, Any], sm: Any, prefix: Path) -> None:
    """`preferences` and `adapter` of a DPO job from its channels: a name given as a
    hyperparameter is looked up in its channel (else used as given: a path, or for the adapter
    a run under the runs dir), an unnamed one is the channel's only .jsonl file / the channel
    itself (an SFT job's model directory, a run or adapter directory, or its model.tar.gz)."""
    pref_channel, adapter_channel = sm.sm_channel_preferences, sm.sm_channel_adapter
    if "preferences" in hp:
        hp["preferences"] = str(_in_channel(pref_channel, str(hp["preferences"])))
    elif pref_channel is not None:
        files = sorted(pref_channel.glob("*.jsonl"))
        if len(files) != 1:
            found = ", ".join(f.name for f in files) or "no .jsonl file"
            raise ConfigError(f"the preferences channel {pref_channel} holds {found}: give the "
                              "pairs file's name as the hyperparameter preferences=NAME")
        hp["preferences"] = str(files[0])
    if "adapter" in hp:
        hp["adapter"] = str(_in_channel(adapter_channel, str(hp["adapter"])))
    elif adapter_channel is not None:
        hp["adapter"] = str(_unpacked(adapter_channel, prefix / "sft-adapter"))
    if "preferences" not in hp or "adapter" not in hp:
        raise ConfigError("method dpo continues an SFT adapter on preference pairs: give the job "
                          "a channel named adapter (the SFT job's model.tar.gz or model "
                          "directory) and a channel named preferences (the pairs, JSON Lines)")


def _in_channel(channel: Path | None, name: str) -> Path | str:
    inside = channel / name if channel is not None else None
    return inside if inside is not None and inside.exists() else name


def _unpacked(channel: Path, dest: Path) -> Path:
    """The channel, or — when it holds an SFT job's model.tar.gz (SageMaker copies an S3
    object as it is) — that archive unpacked at `dest` (a fixed place: a resumed job finds it
    where the run's config.yaml names it)."""
    import tarfile

    archives = sorted(channel.glob("*.tar.gz"))
    if len(archives) != 1 or any(channel.glob("*.json")) or (channel / "adapter").is_dir():
        return channel
    if not hasattr(tarfile, "data_filter"):  # Python before 3.11.4: no safe extraction
        raise ConfigError(f"{archives[0]}: unpack it (its adapter/ and run files) into the "
                          "adapter channel's S3 prefix, or run on Python 3.11.4 or later")
    if dest.exists():
        shutil.rmtree(dest)
    with tarfile.open(archives[0]) as tar:
        tar.extractall(dest, filter="data")
    return dest


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
