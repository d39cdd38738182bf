"""Short real runs on the tiny test base: artifacts, MLflow, runs list/show, merge, bad input."""

import json
import sqlite3
from pathlib import Path

import pytest
import yaml

from tsukeku.cli import main
from tsukeku.errors import ConfigError, DataError, ModelError
from tsukeku.training.config import build_config
from tsukeku.training.job import OutOfMemory, train

RUN_FILES = ("config.yaml", "data_manifest.json", "environment.json", "metrics.jsonl", "eval.json",
             "prompt.json", "README.md", "run.json", "adapter/adapter_model.safetensors",
             "adapter/adapter_config.json", "tokenizer/tokenizer.json")


def cli(capsys, *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = e.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def _flags(fast: dict) -> list[str]:
    return [f"--{k.replace('_', '-')}={v}" for k, v in fast.items()]


@pytest.fixture(scope="module")
def lora_run(tiny_base, bundled_dataset, tmp_path_factory):
    runs = tmp_path_factory.mktemp("lora-runs")
    cfg = build_config(None, base=str(tiny_base), data=str(bundled_dataset), max_steps=12,
                       batch_size=8, logging_steps=3, save_steps=6, eval_steps=6,
                       runs_dir=str(runs), name="cli-lora")
    return train(cfg, quiet=True)


def test_lora_run_records_everything(lora_run):
    run = lora_run.run_dir
    for f in RUN_FILES:
        assert (run / f).exists(), f
    assert run.name.startswith("cli-lora-") and run.name.endswith("Z")
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "completed" and info["method"] == "lora"
    assert info["target_modules"] == ["query_key_value", "dense"]
    assert set(info) == {"name", "status", "created", "updated", "pid", "host", "base",
                         "base_resolved", "method", "target_modules", "trainable_params",
                         "total_params", "lr", "precision", "batching", "total_steps",
                         "resumed_from", "run_dir", "mlflow", "finished", "summary"}
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["max_steps"] == 12 and cfg["method"] == "lora"
    manifest = json.loads((run / "data_manifest.json").read_text())
    assert {f["name"] for f in manifest["files"]} >= {"train.jsonl", "validation.jsonl", "prompt.json"}
    assert manifest["splits"]["train"]["examples"] > 0
    env = json.loads((run / "environment.json").read_text())
    assert {"torch", "transformers", "peft"} <= set(env["packages"]) and env["device"]["type"]
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if r["kind"] == "train"]
    assert [r["step"] for r in train_rows] == [3, 6, 9, 12]
    assert all(r["tokens_per_s"] > 0 and r["lr"] is not None for r in train_rows)
    assert [r["step"] for r in rows if r["kind"] == "eval"] == [6, 12]
    ev = json.loads((run / "eval.json").read_text())
    assert ev["validation"]["tokens"] > 0 and ev["validation_base"]["loss"] > 0
    assert ev["train"]["steps"] == 12 and ev["train"]["tokens"] > 0
    assert "| validation |" in (run / "README.md").read_text()
    # the checkpoints are complete and marked
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["checkpoint-12", "checkpoint-6"]


def test_mlflow_has_the_run(lora_run):
    info = json.loads((lora_run.run_dir / "run.json").read_text())
    uri = info["mlflow"]["tracking_uri"]
    assert uri.startswith("sqlite:///")
    db = sqlite3.connect(uri.removeprefix("sqlite:///"))
    status, name = db.execute("select status, name from runs where run_uuid=?",
                              (info["mlflow"]["run_id"],)).fetchone()
    assert status == "FINISHED" and name == lora_run.run_dir.name
    keys = {k for (k,) in db.execute("select distinct key from metrics where run_uuid=?",
                                     (info["mlflow"]["run_id"],))}
    assert {"loss", "tokens_per_s", "eval_loss", "validation_loss"} <= keys
    params = dict(db.execute("select key, value from params where run_uuid=?", (info["mlflow"]["run_id"],)))
    assert params["method"] == "lora" and params["max_steps"] == "12"
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=uri)
    arts = {a.path for a in client.list_artifacts(info["mlflow"]["run_id"])}
    assert {"adapter", "README.md", "eval.json"} <= arts


@pytest.mark.parametrize("batching", ["packed", "grouped", "shuffled"])
def test_every_batching_runs_and_is_recorded(fast, batching):
    result = train(build_config(None, batching=batching, **fast), quiet=True)
    assert json.loads((result.run_dir / "run.json").read_text())["batching"] == batching
    tokens = result.evaluation["train"]["tokens"]
    steps = result.evaluation["train"]["steps"]
    # non-padding tokens: at most the batches' real tokens, far more than one example per step
    assert steps == fast["max_steps"] and steps * 20 < tokens <= steps * fast["batch_size"] * 128
    assert 0 < result.evaluation["train"]["final_loss"] < 20


def test_packing_falls_back_where_attention_cannot_read_packed_positions(fast, monkeypatch):
    from tsukeku.training import data as D

    monkeypatch.setattr(D, "packing_supported", lambda model: False)
    with pytest.warns(UserWarning, match="length-grouped instead"):
        result = train(build_config(None, **fast), quiet=True)
    assert json.loads((result.run_dir / "run.json").read_text())["batching"] == "grouped"


def test_dora_and_neftune_options(fast):
    result = train(build_config(None, use_dora=True, neftune_noise_alpha=5.0, **fast), quiet=True)
    cfg = json.loads((result.run_dir / "adapter" / "adapter_config.json").read_text())
    assert cfg["use_dora"] is True
    saved = yaml.safe_load((result.run_dir / "config.yaml").read_text())
    assert saved["neftune_noise_alpha"] == 5.0 and saved["use_dora"] is True


@pytest.mark.parametrize("method,extra", [("oft", {"oft_block_size": 16}), ("boft", {"boft_block_size": 8})])
def test_oft_and_boft_runs(fast, method, extra):
    result = train(build_config(None, method=method, **fast, **extra), quiet=True)
    cfg = json.loads((result.run_dir / "adapter" / "adapter_config.json").read_text())
    assert cfg["peft_type"] == method.upper()
    for f in RUN_FILES:
        assert (result.run_dir / f).exists(), f
    assert result.evaluation["validation"]["loss"] > 0


def test_runs_list_and_show(capsys, lora_run):
    runs_dir = str(lora_run.run_dir.parent)
    code, out, _ = cli(capsys, "runs", "list", "--runs-dir", runs_dir, "--json")
    assert code == 0
    listed = json.loads(out)
    assert [r["name"] for r in listed] == [lora_run.run_dir.name]
    assert listed[0]["status"] == "completed"
    code, out, _ = cli(capsys, "runs", "show", "cli-lora", "--runs-dir", runs_dir, "--json")
    shown = json.loads(out)
    assert code == 0 and shown["evaluation"]["train"]["steps"] == 12
    assert shown["checkpoints"] == ["checkpoint-12", "checkpoint-6"]
    code, out, _ = cli(capsys, "runs", "show", str(lora_run.run_dir))
    assert code == 0 and "validation loss" in out
    code, _, err = cli(capsys, "runs", "show", "nothing-like-this", "--runs-dir", runs_dir)
    assert code == 2 and "no run" in err


def test_merge_gives_the_same_logits(capsys, lora_run, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tsukeku.models import load_model
    from tsukeku.prompts import PromptTemplate

    out = tmp_path / "merged"
    code, stdout, err = cli(capsys, "merge", str(lora_run.run_dir), "--out", str(out))
    assert code == 0, err
    merged = AutoModelForCausalLM.from_pretrained(out).eval()
    tok = AutoTokenizer.from_pretrained(out)
    PromptTemplate.load(out)  # the template travels with the merged model
    base, _ = load_model(lora_run.info["base_resolved"], device="cpu")
    tuned, _ = load_model(lora_run.info["base_resolved"], device="cpu", adapter=lora_run.run_dir)
    ids = tok(["前句：梅が香の 垣根を越えて 流れけり\n付句（7-7）：", "春の野に"], return_tensors="pt",
              padding=True)
    with torch.no_grad():
        a, b, c = (m(**ids).logits for m in (merged, tuned, base))
    assert torch.allclose(a, b, atol=1e-4)
    assert not torch.allclose(a, c, atol=1e-3)  # the adapter did change the model
    code, _, err = cli(capsys, "merge", str(lora_run.run_dir), "--out", str(out))
    assert code == 2 and "not empty" in err


def test_config_file_and_flags_via_cli(capsys, fast, tmp_path):
    f = tmp_path / "train.yaml"
    f.write_text(yaml.safe_dump({**fast, "method": "lora", "lora": {"rank": 2}, "max_steps": 99}))
    code, out, err = cli(capsys, "train", "--config", str(f), "--max-steps", "2", "--rank", "4",
                         "--no-mlflow", "--quiet", "--json")
    assert code == 0, err
    run = Path(json.loads(out)["run_dir"])
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert (cfg["rank"], cfg["max_steps"], cfg["mlflow"]) == (4, 2, False)
    assert json.loads((run / "adapter" / "adapter_config.json").read_text())["r"] == 4
    assert "mlflow" not in json.loads((run / "run.json").read_text())


def test_wrong_target_modules_list_the_valid_ones(capsys, fast):
    code, _, err = cli(capsys, "train", *_flags(fast), "--target-modules", "q_proj,v_proj", "-q")
    assert code == 2
    assert "q_proj" in err and "query_key_value" in err and "dense_h_to_4h" in err
    with pytest.raises(ConfigError, match="valid Linear layer names"):
        train(build_config(None, **fast, target_modules=["nope"]), quiet=True)


def test_bad_input_errors(capsys, fast, tmp_path, monkeypatch):
    code, _, err = cli(capsys, "train", *_flags({**fast, "data": str(tmp_path / "missing")}), "-q")
    assert code == 2 and "tsukeku data build" in err
    with pytest.raises(DataError):
        train(build_config(None, **{**fast, "data": str(tmp_path)}), quiet=True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, _, err = cli(capsys, "train", *_flags({**fast, "base": "nobody/no-such-base"}), "-q")
    assert code == 2 and "not found" in err and "offline" in err
    with pytest.raises(ModelError):
        train(build_config(None, **{**fast, "base": "nobody/no-such-base"}), quiet=True)
    code, _, err = cli(capsys, "train", "--resume", "no-such-run", "--runs-dir", str(tmp_path))
    assert code == 2 and "no run" in err


def test_out_of_memory_is_explained(fast, monkeypatch):
    import torch
    import transformers

    def boom(self, *a, **k):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(transformers.Trainer, "train", boom)
    with pytest.raises(OutOfMemory, match="--batch-size.*--max-length"):
        train(build_config(None, **fast), quiet=True)
    run = next(Path(fast["runs_dir"]).glob("lora-*"))
    assert json.loads((run / "run.json").read_text())["status"] == "failed"


def test_prompt_option_replaces_the_datasets_template(fast):
    result = train(build_config(None, prompt="instruction", **{**fast, "max_steps": 2}), quiet=True)
    saved = json.loads((result.run_dir / "prompt.json").read_text(encoding="utf-8"))
    assert saved["name"] == "instruction"
    dataset = json.loads((Path(fast["data"]) / "prompt.json").read_text(encoding="utf-8"))
    assert dataset["name"] == "completion"


def test_chat_prompt_needs_a_chat_template(fast):
    with pytest.raises(ConfigError, match="chat template"):
        train(build_config(None, prompt="chat", **fast), quiet=True)
