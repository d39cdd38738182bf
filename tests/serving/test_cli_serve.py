"""`tsukeku serve`: options, and user errors as one clear line with exit status 2."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from tsukeku.serving.registry import ModelSource, models_data, resolve_source, write_models_file


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tsukeku", *args], capture_output=True,
                          text=True, timeout=60, env=env)


def test_help_lists_the_options():
    out = _run("serve", "--help")
    assert out.returncode == 0
    for option in ("--models", "--host", "--port", "--api-key", "--cors-origin", "--max-batch",
                   "--batch-window-ms", "--no-batching", "--timeout-s", "--queue-size",
                   "--engine", "--torch-threads"):
        assert option in out.stdout, option


def test_user_errors_exit_2_without_a_traceback(tmp_path):
    missing = _run("serve", "--models", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "nope.yaml not found" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad = _run("serve", "--max-batch", "0")
    assert bad.returncode == 2 and "--max-batch" in bad.stderr
    engine = _run("serve", "--engine", "tensorrt")
    assert engine.returncode == 2 and "--engine" in engine.stderr


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed")
def test_engine_vllm_without_vllm(tmp_path):
    models = write_models_file(tmp_path / "models.yaml", "base")
    out = _run("serve", "--models", str(models), "--engine", "vllm")
    assert out.returncode == 2 and "pip install vllm" in out.stderr


def test_model_source_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("TSUKEKU_MODEL_DIR", str(tmp_path / "absent"))
    assert resolve_source(None).kind == "default"
    data, _ = models_data(ModelSource("default"))
    assert data == {"models": {"base": {"kind": "local", "base": "tiny"}}}

    sm = tmp_path / "opt-ml-model"
    sm.mkdir()
    monkeypatch.setenv("TSUKEKU_MODEL_DIR", str(sm))
    assert resolve_source(None).kind == "default"  # empty: nothing unpacked there
    (sm / "config.json").write_text("{}")
    source = resolve_source(None)
    assert source == ModelSource("dir", sm)
    assert models_data(source)[0] == {"models": {"model": {"kind": "local", "base": str(sm)}}}
    write_models_file(sm / "models.yaml", "tuned", base="tiny")
    assert resolve_source(None) == ModelSource("file", sm / "models.yaml")
    explicit = write_models_file(tmp_path / "mine.yaml", "x")
    assert resolve_source(explicit) == ModelSource("file", explicit)


def test_adapter_dir_as_the_model(tmp_path, monkeypatch):
    sm = tmp_path / "model"
    sm.mkdir()
    (sm / "adapter_config.json").write_text('{"base_model_name_or_path": "/gone/base"}')
    monkeypatch.setenv("TSUKEKU_MODEL_DIR", str(sm))
    monkeypatch.delenv("TSUKEKU_BASE", raising=False)
    spec = models_data(resolve_source(None))[0]["models"]["model"]
    # the adapter's own base, even when it is not there: never another base (issue 15)
    assert spec == {"kind": "local", "base": "/gone/base", "adapter": str(sm)}
    from tsukeku.errors import ModelError
    from tsukeku.serving.registry import registry_loader

    with pytest.raises(ModelError, match="/gone/base"):
        registry_loader(None)  # before the server starts
    monkeypatch.setenv("TSUKEKU_BASE", "rinna/japanese-gpt-neox-3.6b")
    assert models_data(resolve_source(None))[0]["models"]["model"]["base"] == \
        "rinna/japanese-gpt-neox-3.6b"
