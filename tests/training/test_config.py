import pytest

from tsukeku.errors import ConfigError
from tsukeku.training.config import build_config


def test_yaml_then_flags(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("data: d\nmethod: oft\nrank: 4\nlr: 0.001\ntarget-modules: query_key_value\n")
    cfg = build_config(f, rank=16, lr=None)
    assert cfg.method == "oft" and cfg.rank == 16 and cfg.lr == 0.001
    assert cfg.target_modules == ["query_key_value"]
    assert build_config(None, data="d", target_modules="a, b").target_modules == ["a", "b"]
    assert build_config(None, data="d").target_modules == "auto"


def test_bad_configs(tmp_path):
    with pytest.raises(ConfigError, match="no dataset"):
        build_config(None, method="lora")
    with pytest.raises(ConfigError, match="unknown option"):
        build_config(None, data="d", rnak=3)
    with pytest.raises(ConfigError, match="method"):
        build_config(None, data="d", method="prefix")
    with pytest.raises(ConfigError, match="does not exist"):
        build_config(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        build_config(tmp_path / "bad.yaml")


def test_batching_and_its_older_spelling():
    assert build_config(None, data="d").batching == "packed"
    assert build_config(None, data="d", group_by_length=True).batching == "grouped"
    assert build_config(None, data="d", group_by_length=False).batching == "shuffled"
    assert build_config(None, data="d", group_by_length=False, batching="packed").batching == "packed"
    with pytest.raises(ConfigError, match="batching"):
        build_config(None, data="d", batching="bucketed")


def test_fp16_needs_cuda():
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(ConfigError, match="fp16"):
        build_config(None, data="d", precision="fp16")


def test_example_configs_parse():
    from pathlib import Path

    root = Path(__file__).parents[2] / "configs"
    files = sorted(root.glob("train-*.yaml"))
    assert files, "example configs missing"
    for f in files:
        build_config(f)


def test_a_run_begun_before_packing_resumes_with_its_own_batching(tmp_path):
    from tsukeku.training.job import _load_run_config

    (tmp_path / "config.yaml").write_text("data: d\ngroup_by_length: true\n")
    assert _load_run_config(tmp_path).batching == "grouped"
    (tmp_path / "config.yaml").write_text("data: d\ngroup_by_length: false\n")
    assert _load_run_config(tmp_path).batching == "shuffled"
    (tmp_path / "config.yaml").write_text("data: d\nbatching: packed\ngroup_by_length: null\n")
    assert _load_run_config(tmp_path).batching == "packed"
