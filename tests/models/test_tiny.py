import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tsukeku.models import tiny


def test_tiny_base_loads_with_auto_classes(tiny_base):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_base)
    model = AutoModelForCausalLM.from_pretrained(tiny_base)
    assert model.config.model_type == "gpt_neox"  # the rinna 3.6B family
    assert tok.eos_token == tiny.EOS and tok.pad_token == tiny.PAD
    assert tok.pad_token_id != tok.eos_token_id
    text = "霞たつ 野辺の若菜を 摘みに出て"
    ids = tok(text)["input_ids"]
    assert tok.decode(ids) == text  # byte-level BPE: no unknown tokens, exact round trip
    assert len(ids) < len(text.encode("utf-8"))  # merges learned, not raw bytes
    info = json.loads((tiny_base / "tiny_base.json").read_text())
    assert info["parameters"] == sum(p.numel() for p in model.parameters())
    assert info["heldout_loss"] > 0 and info["heldout_verses"] > 0
    assert "held-out LM loss" in (tiny_base / "README.md").read_text()


def test_heldout_verses_are_kept_out_of_pretraining():
    from tsukeku.corpus.bundled import bundled_texts

    train, held = tiny.pretraining_texts()
    splits = tiny.default_bundled_splits()
    evaluation = {v for s in ("validation", "test") for link in splits[s]
                  for v in (link["previous"], link["next"], *link.get("context", []))}
    assert evaluation and held
    assert not set(train) & evaluation
    assert set(held) == evaluation & set(bundled_texts())
    assert set(train) | set(held) == set(bundled_texts())


def test_cache_key_follows_the_inputs():
    spec = tiny.PRESETS["test"]
    a = tiny.cache_key(spec, ["一 二 三"], ["四"])
    assert a == tiny.cache_key(spec, ["一 二 三"], ["四"])
    assert a != tiny.cache_key(spec, ["一 二 三", "五"], ["四"])
    assert a != tiny.cache_key(spec, ["一 二 三"], ["四", "五"])
    assert a != tiny.cache_key(tiny.PRESETS["default"], ["一 二 三"], ["四"])


def test_unknown_preset_is_a_config_error():
    from tsukeku.errors import ConfigError

    with pytest.raises(ConfigError, match="preset"):
        tiny.build_tiny(preset="huge")


_RACE = r"""
import sys, time
from tsukeku.models import tiny
tiny.PRESETS["micro"] = tiny.TinyPreset(vocab_size=300, hidden_size=32, num_layers=1, num_heads=2,
    intermediate_size=64, context=32, max_steps=4, batch_size=4, learning_rate=1e-3)
from tests.training.fixture_data import train_verses, heldout_verses
t = time.time()
path = tiny.build_tiny(preset="micro", texts=train_verses(), heldout=heldout_verses(), quiet=True)
print(path, time.time() - t)
"""


def test_two_processes_building_at_once_share_one_build(tmp_path):
    env = {**os.environ, "TSUKEKU_HOME": str(tmp_path), "PYTHONPATH": str(Path(__file__).parents[2]),
           "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", _RACE], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=240) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    paths = {o[0].split()[0] for o in outs}
    assert len(paths) == 1
    path = Path(paths.pop())
    # one finished base, no temporary build left behind (only the lock file beside it)
    assert sorted(p.name for p in (tmp_path / "tiny").iterdir()) == sorted([path.name, f".{path.name}.lock"])
    assert json.loads((path / "tiny_base.json").read_text())["preset"] == "micro"
