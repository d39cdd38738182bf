"""DPO as a recorded training run: the config, the preference file, the CLI's errors, and (slow)
a tiny run that writes a complete run dir, resumes after an interruption, merges and composes."""

import json

import numpy as np
import pytest
from transformers import TrainerCallback

from tsukeku.errors import ConfigError, DataError
from tsukeku.training.config import build_config
from tsukeku.training.dpo import preference_accuracy, read_preferences, split_pairs


def _pairs(n: int) -> list[dict]:
    return [{"prompt": f"前句：{i}\n付句：", "chosen": "よき 付句\n", "rejected": "悪しき\n"}
            for i in range(n)]


def _write(path, rows) -> str:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def test_dpo_config_needs_adapter_and_preferences(small_dataset):
    with pytest.raises(ConfigError, match="--adapter RUN and --preferences FILE"):
        build_config(data=str(small_dataset), method="dpo", preferences="p.jsonl")
    cfg = build_config(data=str(small_dataset), method="dpo", preferences="p.jsonl",
                       adapter="sft", beta=0.3, loss_type="ipo")
    assert (cfg.dpo.beta, cfg.dpo.loss_type) == (0.3, "ipo")
    flat = cfg.flat()
    assert (flat["method"], flat["beta"], flat["adapter"], flat["preferences"]) == \
        ("dpo", 0.3, "sft", "p.jsonl")
    assert build_config(**flat).dpo == cfg.dpo  # config.yaml round trip
    assert cfg.resolved_lr(True) < build_config(data=str(small_dataset)).resolved_lr(True)


def test_preference_file_is_checked(tmp_path):
    assert len(read_preferences(_write(tmp_path / "ok.jsonl", _pairs(3)))) == 3
    with pytest.raises(DataError, match="does not exist"):
        read_preferences(tmp_path / "none.jsonl")
    (tmp_path / "bad.jsonl").write_text('{"prompt": "x"\n', encoding="utf-8")
    with pytest.raises(DataError, match="bad.jsonl:1: not valid JSON"):
        read_preferences(tmp_path / "bad.jsonl")
    with pytest.raises(DataError, match=r"missing.jsonl:2: .*rejected"):
        read_preferences(_write(tmp_path / "missing.jsonl",
                                [_pairs(1)[0], {"prompt": "p", "chosen": "c"}]))
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(DataError, match="no pairs"):
        read_preferences(tmp_path / "empty.jsonl")


def test_held_out_pairs_and_accuracy():
    train, held = split_pairs(_pairs(50), 0.1, seed=1)
    assert (len(train), len(held)) == (45, 5) and split_pairs(_pairs(50), 0.1, seed=1)[1] == held
    assert split_pairs(_pairs(5), 0.1, seed=1) == (_pairs(5), [])
    policy = np.array([[-1.0, -2.0], [-3.0, -1.0], [-2.0, -2.0]])
    assert preference_accuracy(policy) == pytest.approx(0.5)  # hit, miss, tie
    reference = np.array([[-1.0, -1.5], [-3.0, -3.0], [-2.0, -2.0]])
    # margins against the reference: +0.5, -2, 0
    assert preference_accuracy(policy, reference) == pytest.approx(0.5)
    assert preference_accuracy(policy, policy) == pytest.approx(0.5)  # π = π_ref: all ties


def test_pair_scores_on_a_real_model(tiny_base, bundled_dataset):
    """The implicit reward's log-probabilities: SFT's encoding, per pair; a model against itself
    ties on every pair."""
    from tsukeku.models.loader import load_model
    from tsukeku.training.data import load_template, read_split
    from tsukeku.training.dpo import pair_logps
    from tsukeku.training.preferences import synthetic_pairs

    model, tok = load_model(str(tiny_base), device="cpu", dtype="fp32")
    records = read_split(bundled_dataset, "validation")[:12]
    pairs = synthetic_pairs(records, load_template(bundled_dataset), split="validation")
    logps = pair_logps(model, tok, pairs, 128)
    assert logps.shape == (len(pairs), 2) and np.isfinite(logps).all() and (logps < 0).all()
    assert preference_accuracy(logps, logps) == 0.5
    # the same scores as the held-out loss gives the chosen 付句 of its own record
    from tsukeku.training.data import encode_split, make_collator
    from tsukeku.training.evaluate import target_nll

    by_id = {r["id"]: r for r in records}
    own = encode_split(tok, load_template(bundled_dataset), [by_id[p["id"]] for p in pairs], 128)
    nll = target_nll(model, own.examples, make_collator(tok))
    # (batches differ in padding: float noise of a few 1e-4 relative)
    assert np.allclose(logps[:, 0], [-total for total, _ in nll], rtol=1e-3)


def test_cli_errors_exit_2_with_one_line(tmp_path, small_dataset, capsys):
    from tsukeku.cli import main

    prefs = _write(tmp_path / "p.jsonl", _pairs(3))
    common = ["train", "--method", "dpo", "--data", str(small_dataset), "--runs-dir",
              str(tmp_path / "runs"), "--no-mlflow", "-q"]
    with pytest.raises(SystemExit) as e:
        main([*common, "--adapter", str(tmp_path / "no-such-run"), "--preferences", prefs])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "no SFT adapter" in err and len(err.splitlines()) == 1
    fake = tmp_path / "adapter"
    fake.mkdir()
    (fake / "adapter_config.json").write_text("{}", encoding="utf-8")
    (tmp_path / "bad.jsonl").write_text("not json\n", encoding="utf-8")
    with pytest.raises(SystemExit) as e:
        main([*common, "--adapter", str(fake), "--preferences", str(tmp_path / "bad.jsonl")])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "bad.jsonl:1: not valid JSON" in err and len(err.splitlines()) == 1


class _StopAt(TrainerCallback):
    """Interrupts training (as Ctrl-C would) once `step` is done and checkpointed."""

    def __init__(self, step: int):
        self.step = step

    def on_save(self, args, state, control, **kw):
        if state.global_step >= self.step:
            raise KeyboardInterrupt


@pytest.mark.slow  # ~40 s on 2 cores: an SFT run, a DPO run interrupted and resumed, merge, compose
def test_dpo_run_is_recorded_resumes_merges_and_composes(fast, bundled_dataset, tmp_path):
    import torch
    from safetensors.torch import load_file

    from tsukeku.generation.composer import Composer
    from tsukeku.training.job import train
    from tsukeku.training.merge import merge_run
    from tsukeku.training.preferences import build_preferences
    from tsukeku.training.runs import RunRecord

    sft = train(build_config(name="sft", mlflow=False, **fast), quiet=True).run_dir
    prefs = tmp_path / "prefs.jsonl"
    build_preferences(bundled_dataset, prefs)
    cfg = build_config(**{**fast, "max_steps": 4, "save_steps": 2, "batch_size": 4}, method="dpo",
                       name="dpo", adapter=str(sft), preferences=str(prefs),
                       tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", experiment="dpo-test")
    with pytest.raises(KeyboardInterrupt):
        train(cfg, quiet=True, callbacks=[_StopAt(2)])
    [run] = [d for d in (tmp_path / "runs").glob("dpo-*")]
    assert RunRecord.load(run).status == "interrupted"
    result = train(resume=run, quiet=True)
    assert result.run_dir == run
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "completed" and info["method"] == "dpo"
    assert info["resumed_from"] == ["checkpoint-2"] and info["adapter_method"] == "lora"
    assert info["mlflow"]["run_id"]
    for name in ("config.yaml", "data_manifest.json", "environment.json", "metrics.jsonl",
                 "eval.json", "prompt.json", "README.md", "adapter/adapter_config.json",
                 "tokenizer/tokenizer_config.json", "models.yaml"):
        assert (run / name).is_file(), name
    manifest = json.loads((run / "data_manifest.json").read_text())
    assert manifest["preferences"]["synthetic"] == manifest["preferences"]["pairs"] > 0
    ev = json.loads((run / "eval.json").read_text())
    assert ev["train"]["steps"] == 4
    assert {"accuracy_vs_base", "accuracy_vs_base_sft", "accuracy_vs_sft"} <= set(ev["preferences"])
    assert "validation_sft" in ev and "test_base" in ev
    assert "DPO β=0.1" in (run / "README.md").read_text()
    # only the tuned adapter is saved, and it moved away from the SFT one
    tuned = load_file(run / "adapter" / "adapter_model.safetensors")
    before = load_file(sft / "adapter" / "adapter_model.safetensors")
    assert tuned.keys() == before.keys() and not any(".ref." in k for k in tuned)
    assert any(not torch.equal(tuned[k], before[k]) for k in tuned)
    merged = merge_run(run, tmp_path / "merged")
    assert (merged / "config.json").is_file() and (merged / "prompt.json").is_file()
    composer = Composer.load(fast["base"], run)
    out = composer.compose("夕月の 川面に落ちて 砕けけり", n=1, form="7-7", constrained=True, seed=0)
    assert out.candidates and out.candidates[0].ok
