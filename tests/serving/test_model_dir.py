"""A training job's model directory is self-contained: training writes a manifest (models.yaml)
naming its base, adapter, template and merged weights, and the server on that directory serves
exactly the trained model — merged weights when there, else base + adapter — or says which base
is missing; never another base. Fast tests on a run as training leaves it; the slow ones run the
SageMaker entry point on a fake /opt/ml tree and serve its model directory over HTTP."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from tests.serving.conftest import PREVIOUS
from tsukeku.errors import ModelError
from tsukeku.generation.types import ComposeRequest
from tsukeku.serving.app import create_app
from tsukeku.serving.registry import ModelSource, load_registry, registry_loader
from tsukeku.serving.settings import ServeSettings

REQUEST = {"n": 3, "seed": 7, "max_new_tokens": 24, "temperature": 1.0}
HUB_ID = "rinna/japanese-gpt-neox-3.6b"


@pytest.fixture(scope="module")
def job(tiny_base, tmp_path_factory) -> dict[str, Path]:
    """One SageMaker training job (4 LoRA steps, merge on) on a fake /opt/ml tree, its base
    given as a channel holding a copy of the tiny test base."""
    import torch

    from tsukeku.corpus.build import build_dataset
    from tsukeku.training import sagemaker_entry as sm

    root = tmp_path_factory.mktemp("opt_ml")
    build_dataset(("bundled",), root / "input" / "data" / "train", seed=0)
    base = root / "input" / "data" / "base"
    shutil.copytree(tiny_base, base)
    (root / "input" / "config").mkdir(parents=True)
    hp = {"max_steps": 4, "batch_size": 8, "save_steps": 4, "method": "lora", "lr": 0.01}
    (root / "input" / "config" / "hyperparameters.json").write_text(
        json.dumps({k: json.dumps(v) for k, v in hp.items()}))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TSUKEKU_SM_PREFIX", str(root))
        mp.setenv("SM_CHANNEL_BASE", str(base))
        for var in ("SM_CHANNEL_TRAIN", "SM_MODEL_DIR", "SM_OUTPUT_DATA_DIR", "TSUKEKU_BASE"):
            mp.delenv(var, raising=False)
        assert sm.main() == 0, (root / "output" / "failure").read_text()
    torch.set_num_threads(threads)
    return {"root": root, "model": root / "model", "base": base, "tiny": tiny_base}


@pytest.fixture
def run(tiny_base, tmp_path) -> dict[str, Path]:
    """A completed run as training leaves it (untrained LoRA adapter, run.json, prompt.json,
    manifest), on a copy of the tiny test base that the test may remove."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from tsukeku.prompts import get_template
    from tsukeku.training.manifest import run_manifest

    base = tmp_path / "base"
    shutil.copytree(tiny_base, base)
    run_dir = tmp_path / "runs" / "lora-20260101T000000Z"
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                           LoraConfig(r=2, target_modules=["query_key_value"]))
    model.save_pretrained(run_dir / "adapter")
    get_template("completion").save(run_dir)
    (run_dir / "run.json").write_text(json.dumps({
        "name": run_dir.name, "status": "completed", "base": str(base),
        "base_resolved": str(base.resolve()), "method": "lora"}))
    run_manifest(run_dir)
    return {"run": run_dir, "base": base, "tiny": tiny_base}


def _candidates(result) -> list[tuple[str, float | None]]:
    return [(c.text, c.logprob) for c in result.candidates]


def _direct(base: Path, adapter: Path | None = None) -> list[tuple[str, float | None]]:
    from tsukeku.backends.local import LocalHFBackend

    backend = LocalHFBackend.from_pretrained("direct", base=base, adapter=adapter)
    return _candidates(backend.compose(ComposeRequest(previous=PREVIOUS, **REQUEST)))


def _served(folder: Path) -> tuple[dict, list[tuple[str, float | None]]]:
    # window batching: one compose_many call per request, as composing directly does
    app = create_app(registry_loader(folder), ServeSettings(batch_window_ms=0,
                                                            batching_mode="window"))
    with TestClient(app) as client:
        for _ in range(600):
            if client.get("/ping").status_code == 200:
                break
            time.sleep(0.05)
        health = client.get("/health").json()
        r = client.post("/invocations", json={"inputs": PREVIOUS, "parameters": REQUEST})
        assert r.status_code == 200, r.text
    cands = [(c["text"], c["logprob"]) for c in r.json()["candidates"]]
    return health, cands


def test_a_run_leaves_a_manifest_the_server_reads(run):
    manifest = yaml.safe_load((run["run"] / "models.yaml").read_text())
    spec = manifest["models"][manifest["default"]]
    assert spec["kind"] == "local" and spec["base"] == str(run["base"])
    assert spec["adapter"] == "adapter" and spec["template"] == "prompt.json"
    assert "merged" not in spec
    from tsukeku.backends.registry import ModelsFile

    ModelsFile.model_validate(manifest)  # the server's own schema
    registry = load_registry(ModelSource("file", run["run"] / "models.yaml"))
    assert registry.details("model") == {"base": str(run["base"]), "adapter": "adapter",
                                         "weights": "base+adapter"}


def test_a_merge_out_dir_serves_its_merged_weights_without_the_base(run, tmp_path):
    from tsukeku.training.merge import merge_run

    out = merge_run(run["run"], tmp_path / "merged")
    spec = yaml.safe_load((out / "models.yaml").read_text())["models"]["model"]
    assert spec["merged"] == "." and spec["base"] == str(run["base"])
    shutil.rmtree(run["base"])
    registry = load_registry(ModelSource("file", out / "models.yaml"))  # no base needed
    assert registry.details("model")["weights"] == "merged"
    backend = registry.get("model")
    assert not backend.composer.loaded.is_peft  # the merged weights alone, no adapter


def test_a_missing_base_is_a_clear_error_never_another_base(run):
    shutil.rmtree(run["base"])
    with pytest.raises(ModelError, match=str(run["base"])):
        registry_loader(run["run"])  # `tsukeku serve --models RUN_DIR`: before the server starts
    with pytest.raises(ModelError, match="never put on another"):
        load_registry(ModelSource("file", run["run"] / "models.yaml"))


def _offline_without_cache(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty-cache"))


def test_a_hub_base_offline_and_not_cached_is_named(run, tmp_path, monkeypatch):
    spec_file = run["run"] / "models.yaml"
    spec_file.write_text(spec_file.read_text().replace(str(run["base"]), HUB_ID))
    _offline_without_cache(monkeypatch, tmp_path)
    with pytest.raises(ModelError, match=HUB_ID.replace(".", r"\.")):
        registry_loader(run["run"])


def test_an_old_model_dir_without_a_manifest(run, tmp_path, monkeypatch):
    """Before manifests: merged/ is served when there; an adapter alone goes on the base its
    run.json names — a hub id stays a hub id (offline and not cached: the error names it)."""
    from tsukeku.training.merge import merge_run

    monkeypatch.delenv("TSUKEKU_BASE", raising=False)
    old = run["run"]
    (old / "models.yaml").unlink()
    assert load_registry(ModelSource("dir", old)).details("model")["weights"] == "base+adapter"
    merge_run(old, old / "merged")
    (old / "merged" / "models.yaml").unlink()
    assert load_registry(ModelSource("dir", old)).details("model")["weights"] == "merged"

    shutil.rmtree(old / "merged")
    info = json.loads((old / "run.json").read_text())
    (old / "run.json").write_text(json.dumps(info | {"base": HUB_ID}))
    monkeypatch.setenv("TSUKEKU_MODEL_DIR", str(old))
    _offline_without_cache(monkeypatch, tmp_path)
    with pytest.raises(ModelError, match="rinna"):
        registry_loader(None)  # the container's /opt/ml/model, here moved


@pytest.mark.slow
def test_the_job_writes_a_manifest_naming_its_base(job):
    manifest = yaml.safe_load((job["model"] / "models.yaml").read_text())
    spec = manifest["models"][manifest["default"]]
    assert {k: spec[k] for k in ("kind", "base", "adapter", "merged", "template")} == {
        "kind": "local", "base": str(job["base"]), "adapter": "adapter", "merged": "merged",
        "template": "prompt.json"}


@pytest.mark.slow
def test_the_model_dir_serves_the_merged_weights_without_the_base(job, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(job["model"], model)
    tuned = _direct(model / "merged")  # the run's own merge, composed directly
    untrained = _direct(job["tiny"])
    base_copy = tmp_path / "base-kept"
    shutil.move(job["base"], base_copy)  # the base channel is gone on the endpoint
    try:
        health, served = _served(model)
    finally:
        shutil.move(base_copy, job["base"])
    info = {m["name"]: m for m in health["models"]}["model"]
    assert info["weights"] == "merged" and info["base"] == str(job["base"])
    assert info["adapter"] == "adapter" and info["supports_constraints"] is True
    assert served == tuned  # same seed, same weights: the same candidates
    assert served != untrained  # and not what the untrained base writes


@pytest.mark.slow
def test_without_merged_weights_the_adapter_goes_on_the_named_base(job, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(job["model"], model)
    shutil.rmtree(model / "merged")
    health, served = _served(model)
    info = {m["name"]: m for m in health["models"]}["model"]
    assert info["weights"] == "base+adapter" and info["base"] == str(job["base"])
    assert served == _direct(job["base"], model / "adapter")
