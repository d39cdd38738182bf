import pytest
import yaml

from tsukeku.errors import ConfigError
from tsukeku.training.config import build_config, load_run_config

# the layout of configs before the method options were grouped (and of a run's config.yaml)
FLAT = """data: d
method: oft
rank: 4
alpha: 8
dropout: 0.1
use_dora: true
oft_block_size: 32
boft_block_size: 4
boft_butterfly_factor: 2
"""
GROUPED = """data: d
method: oft
lora: {rank: 4, alpha: 8, dropout: 0.1, use-dora: true}
oft: {block_size: 32, dropout: 0.1}
boft: {block_size: 4, butterfly_factor: 2, dropout: 0.1}
"""


def test_yaml_then_flags(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("data: d\nmethod: oft\nrank: 4\nlr: 0.001\ntarget-modules: query_key_value\n")
    cfg = build_config(f, rank=16, lr=None)
    assert cfg.method == "oft" and cfg.lora.rank == 16 and cfg.lr == 0.001
    assert cfg.target_modules == ["query_key_value"]
    assert build_config(None, data="d", target_modules="a, b").target_modules == ["a", "b"]
    assert build_config(None, data="d").target_modules == "auto"


def test_flat_and_grouped_method_options_are_one_config(tmp_path):
    (tmp_path / "flat.yaml").write_text(FLAT)
    (tmp_path / "grouped.yaml").write_text(GROUPED)
    flat, grouped = build_config(tmp_path / "flat.yaml"), build_config(tmp_path / "grouped.yaml")
    assert flat == grouped
    assert (grouped.lora.rank, grouped.lora.alpha, grouped.lora.use_dora) == (4, 8.0, True)
    assert (grouped.oft.block_size, grouped.boft.block_size, grouped.boft.butterfly_factor) == (32, 4, 2)
    assert grouped.options() is grouped.oft
    # a flag overrides one option of a group from the file and keeps the others
    cfg = build_config(tmp_path / "grouped.yaml", alpha=2.0, dropout=0.0)
    assert (cfg.lora.rank, cfg.lora.alpha, cfg.lora.dropout, cfg.oft.dropout) == (4, 2.0, 0.0, 0.0)
    assert build_config(None, data="d", lora={"rank": 2}).lora.alpha == 16.0


def test_a_run_saves_the_flat_layout_that_loads_again(tmp_path):
    cfg = build_config(None, data="d", method="boft", rank=4, oft_block_size=32, boft_block_size=4,
                       boft_butterfly_factor=2, boft={"dropout": 0.2})
    saved = yaml.safe_load(cfg.dump())
    assert "boft" not in saved and "lora" not in saved
    assert (saved["rank"], saved["oft_block_size"], saved["boft_block_size"]) == (4, 32, 4)
    assert saved["dropout"] == 0.2  # the one dropout of a run is its own method's
    (tmp_path / "config.yaml").write_text(cfg.dump())
    loaded = load_run_config(tmp_path)
    assert loaded.flat() == cfg.flat() and loaded.options() == cfg.options()


def test_bad_configs(tmp_path):
    with pytest.raises(ConfigError, match="no dataset"):
        build_config(None, method="lora")
    with pytest.raises(ConfigError, match="rnak: unknown option; valid options: name, base, data"):
        build_config(None, data="d", rnak=3)
    with pytest.raises(ConfigError, match="lora.rnak: unknown option; valid options: rank, alpha"):
        build_config(None, data="d", lora={"rnak": 3})
    with pytest.raises(ConfigError, match=r"^invalid training config — lora.rank: .*greater than or equal to 1"):
        build_config(None, data="d", rank=0)
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
    (tmp_path / "config.yaml").write_text("data: d\ngroup_by_length: true\n")
    assert load_run_config(tmp_path).batching == "grouped"
    (tmp_path / "config.yaml").write_text("data: d\ngroup_by_length: false\n")
    assert load_run_config(tmp_path).batching == "shuffled"
    (tmp_path / "config.yaml").write_text("data: d\nbatching: packed\ngroup_by_length: null\n")
    assert load_run_config(tmp_path).batching == "packed"
