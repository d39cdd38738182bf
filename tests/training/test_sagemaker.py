"""The SageMaker entry point against a fake /opt/ml tree, and the launcher's argument parsing."""

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from tsukeku.training import sagemaker_entry as sm

REPO = Path(__file__).parents[2]


def test_hyperparameters_come_as_strings(tmp_path):
    f = tmp_path / "hp.json"
    f.write_text(json.dumps({"method": '"oft"', "epochs": "2", "lr": "0.001", "merge": "false",
                             "target_modules": '["query_key_value"]', "name": "plain",
                             "group-by-length": "True", "sagemaker_program": "x.py"}))
    hp = sm.read_hyperparameters(f)
    assert hp == {"method": "oft", "epochs": 2, "lr": 0.001, "merge": False,
                  "target_modules": ["query_key_value"], "name": "plain", "group_by_length": True}


def _fake_opt_ml(root: Path, dataset: Path, hp: dict) -> Path:
    shutil.copytree(dataset, root / "input" / "data" / "train")
    (root / "input" / "config").mkdir(parents=True)
    (root / "input" / "config" / "hyperparameters.json").write_text(
        json.dumps({k: json.dumps(v) for k, v in hp.items()}))
    return root


def test_entry_point_trains_and_fills_model_dir(tiny_base, bundled_dataset, tmp_path, monkeypatch):
    root = _fake_opt_ml(tmp_path / "opt_ml", bundled_dataset,
                        {"max_steps": 4, "batch_size": 8, "save_steps": 2,
                         "method": "lora", "sagemaker_region": "ap-northeast-1"})
    monkeypatch.setenv("TSUKEKU_SM_PREFIX", str(root))
    monkeypatch.setenv("SM_CHANNEL_BASE", str(tiny_base))  # the base as a channel
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(root / "input" / "data" / "train"))
    monkeypatch.setenv("SM_MODEL_DIR", str(root / "model"))
    monkeypatch.setenv("SM_OUTPUT_DATA_DIR", str(root / "output" / "data"))
    monkeypatch.setenv("TRAINING_JOB_NAME", "tsukeku-lora-job")
    assert sm.main() == 0
    model = root / "model"
    assert (model / "adapter" / "adapter_model.safetensors").exists()
    assert (model / "prompt.json").exists() and (model / "eval.json").exists()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    AutoModelForCausalLM.from_pretrained(model / "merged")
    AutoTokenizer.from_pretrained(model / "merged")
    assert (root / "output" / "data" / "metrics.jsonl").exists()
    run = json.loads((model / "run.json").read_text())
    assert run["name"].startswith("tsukeku-lora-job-") and run["base"] == str(tiny_base)
    import yaml

    manifest = yaml.safe_load((model / "models.yaml").read_text())  # what the endpoint serves
    assert manifest["models"]["model"]["base"] == str(tiny_base)
    assert manifest["models"]["model"]["merged"] == "merged"
    assert manifest["models"]["model"]["adapter"] == "adapter"
    run_dirs = [d for d in (root / "output" / "data" / "runs").iterdir()
                if (d / "run.json").is_file()]  # and the run dir has one
    assert [(d / "models.yaml").is_file() for d in run_dirs] == [True]
    assert not (root / "output" / "failure").exists()


def test_entry_point_failure_is_reported(tmp_path, monkeypatch):
    root = tmp_path / "opt_ml"
    (root / "input" / "config").mkdir(parents=True)
    (root / "input" / "config" / "hyperparameters.json").write_text("{}")
    monkeypatch.setenv("TSUKEKU_SM_PREFIX", str(root))
    for var in ("SM_CHANNEL_TRAIN", "SM_MODEL_DIR", "SM_OUTPUT_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)
    assert sm.main() == 2
    assert "tsukeku data build" in (root / "output" / "failure").read_text()


def _sm_env(monkeypatch, root: Path, **channels: Path) -> None:
    monkeypatch.setenv("TSUKEKU_SM_PREFIX", str(root))
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(root / "input" / "data" / "train"))
    monkeypatch.setenv("SM_MODEL_DIR", str(root / "model"))
    monkeypatch.setenv("SM_OUTPUT_DATA_DIR", str(root / "output" / "data"))
    for name in ("BASE", "ADAPTER", "PREFERENCES"):
        if name.lower() in channels:
            monkeypatch.setenv(f"SM_CHANNEL_{name}", str(channels[name.lower()]))
        else:
            monkeypatch.delenv(f"SM_CHANNEL_{name}", raising=False)


def test_entry_point_runs_dpo_on_an_sft_jobs_model(tiny_base, bundled_dataset, tmp_path,
                                                   monkeypatch):
    """method=dpo: the SFT job's model.tar.gz as the `adapter` channel, the pairs file as the
    `preferences` channel, β, loss type and SFT weight as hyperparameters."""
    import tarfile

    import yaml

    from tsukeku.training.preferences import build_preferences

    sft_root = _fake_opt_ml(tmp_path / "sft", bundled_dataset,
                            {"max_steps": 2, "batch_size": 8, "merge": False, "mlflow": False})
    _sm_env(monkeypatch, sft_root, base=tiny_base)
    assert sm.main() == 0
    adapter_channel = tmp_path / "channels" / "adapter"
    adapter_channel.mkdir(parents=True)
    with tarfile.open(adapter_channel / "model.tar.gz", "w:gz") as tar:  # as SageMaker packs it
        for item in (sft_root / "model").iterdir():
            tar.add(item, arcname=item.name)
    pref_channel = tmp_path / "channels" / "preferences"
    build_preferences(bundled_dataset, pref_channel / "pairs.jsonl")

    root = _fake_opt_ml(tmp_path / "dpo", bundled_dataset,
                        {"method": "dpo", "beta": 0.2, "loss_type": "ipo", "sft_weight": 0.5,
                         "max_steps": 2, "batch_size": 4, "mlflow": False})
    _sm_env(monkeypatch, root, adapter=adapter_channel, preferences=pref_channel)
    assert sm.main() == 0, (root / "output" / "failure").read_text()
    model = root / "model"
    run = json.loads((model / "run.json").read_text())
    assert run["method"] == "dpo" and run["status"] == "completed"
    assert run["sft_run"] == str((root / "sft-adapter").resolve())  # the archive, unpacked
    config = yaml.safe_load((model / "config.yaml").read_text())
    assert (config["beta"], config["loss_type"], config["sft_weight"]) == (0.2, "ipo", 0.5)
    assert config["preferences"] == str((pref_channel / "pairs.jsonl").resolve())
    assert "preferences" in json.loads((model / "eval.json").read_text())
    assert (model / "adapter" / "adapter_model.safetensors").is_file()
    assert (model / "merged" / "config.json").is_file()
    manifest = yaml.safe_load((model / "models.yaml").read_text())
    assert manifest["models"]["model"]["merged"] == "merged"


def test_entry_point_dpo_without_its_channels_says_which(bundled_dataset, tmp_path, monkeypatch):
    root = _fake_opt_ml(tmp_path / "opt_ml", bundled_dataset, {"method": "dpo"})
    _sm_env(monkeypatch, root)
    assert sm.main() == 2
    assert "channel named adapter" in (root / "output" / "failure").read_text()
    pref_channel = tmp_path / "preferences"
    pref_channel.mkdir()
    (pref_channel / "a.jsonl").write_text("")
    (pref_channel / "b.jsonl").write_text("")
    _sm_env(monkeypatch, root, adapter=tmp_path, preferences=pref_channel)
    assert sm.main() == 2
    assert "preferences=NAME" in (root / "output" / "failure").read_text()


def _launcher():
    spec = importlib.util.spec_from_file_location("sagemaker_train", REPO / "deploy" / "sagemaker_train.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_launcher_arguments_without_the_sdk():
    mod = _launcher()
    args = mod.parse_args(["--role", "arn:aws:iam::123456789012:role/SageMaker", "--train",
                           "s3://bucket/tsukeku/data", "--base", "rinna/japanese-gpt-neox-3.6b",
                           "--instance-type", "ml.g5.2xlarge", "--hp", "epochs=2", "--hp", "lr=2e-4",
                           "--spot"])
    kw = mod.estimator_kwargs(args)
    assert kw["entry_point"] == "sagemaker_entry.py" or kw["entry_point"].endswith("sagemaker_entry.py")
    assert kw["instance_type"] == "ml.g5.2xlarge" and kw["use_spot_instances"] is True
    assert kw["hyperparameters"]["base"] == "rinna/japanese-gpt-neox-3.6b"
    assert kw["hyperparameters"]["epochs"] == 2 and kw["hyperparameters"]["lr"] == 2e-4
    assert kw["checkpoint_s3_uri"].startswith("s3://")
    assert mod.channels(args) == {"train": "s3://bucket/tsukeku/data"}
    with pytest.raises(SystemExit):
        mod.parse_args(["--train", "s3://b/d"])  # no role
