"""An adapter loaded without a base goes on the base it was trained on — or, when that base
is not there, fails with a ModelError naming it (never onto the tiny base instead), as
`tsukeku serve --models DIR` does; a base given explicitly is used as given."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tsukeku.backends.local import LocalHFBackend
from tsukeku.errors import ModelError
from tsukeku.generation.composer import Composer
from tsukeku.models.loader import trained_base

from .conftest import LONG_PREVIOUS


@pytest.fixture(scope="module")
def moved(tiny_base, tmp_path_factory):
    """A run whose adapter was trained on a copy of the tiny base that has since gone."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    root = tmp_path_factory.mktemp("moved")
    base = root / "base-that-moved"
    shutil.copytree(tiny_base, base)
    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(str(base)),
                           LoraConfig(r=4, target_modules=["query_key_value"]))
    model.save_pretrained(str(root / "run" / "adapter"))
    shutil.rmtree(base)
    return root / "run", base


def _with_base(run: Path, out: Path, *, named: str | None, recorded: str | None) -> Path:
    """A copy of `run` whose adapter config names `named` and whose run.json records
    `recorded` (None: no run.json)."""
    shutil.copytree(run, out)
    cfg_file = out / "adapter" / "adapter_config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg["base_model_name_or_path"] = named
    cfg_file.write_text(json.dumps(cfg))
    if recorded is not None:
        (out / "run.json").write_text(json.dumps({"status": "completed", "base": recorded}))
    return out


def _no_loading(monkeypatch):
    from tsukeku.generation.loaded_model import LoadedModel

    def load(*args, **kwargs):
        raise AssertionError(f"loaded the base {args} instead of saying it is missing")

    monkeypatch.setattr(LoadedModel, "load", load)


def test_a_missing_base_is_named_on_the_compose_path(moved, monkeypatch):
    run, base = moved
    _no_loading(monkeypatch)
    for load in (lambda: Composer.load(adapter=run),
                 lambda: LocalHFBackend.from_pretrained("m", adapter=str(run))):
        with pytest.raises(ModelError) as err:
            load()
        message = str(err.value)
        assert str(base) in message and "not there" in message and "--base" in message


def test_an_explicit_base_is_used_as_given(moved, tiny_base):
    run, _ = moved
    backend = LocalHFBackend.from_pretrained("m", str(tiny_base), adapter=str(run))
    assert Path(backend.loaded.source) == tiny_base
    result = backend.compose_many([backend_request()])[0]
    assert result.candidates


def backend_request():
    from tsukeku.generation.types import ComposeRequest

    return ComposeRequest(previous=LONG_PREVIOUS, n=1, max_new_tokens=24, seed=1)


def test_the_cli_says_which_base_is_missing(moved, capsys, monkeypatch):
    from tsukeku.cli import main

    run, base = moved
    _no_loading(monkeypatch)
    with pytest.raises(SystemExit) as exc:
        main(["compose", "--adapter", str(run), LONG_PREVIOUS])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "base-that-moved" in err and "not there" in err


def test_what_the_run_recorded_is_the_base(moved, tmp_path):
    run, base = moved
    # the tiny cache cleared: the run's recorded name rebuilds it
    tiny = _with_base(run, tmp_path / "tiny", named=str(base), recorded="tiny:test")
    assert trained_base(tiny) == "tiny:test"
    # a hub id (loaded from the hub or its cache), as the run was given it or as PEFT named it
    hub = _with_base(run, tmp_path / "hub", named="/gone/snapshot", recorded="org/model")
    assert trained_base(hub) == "org/model"
    assert trained_base(_with_base(run, tmp_path / "hub2", named="org/model", recorded=None)) \
        == "org/model"
    # a recorded directory that is gone is named too
    gone = _with_base(run, tmp_path / "gone", named=None, recorded=str(tmp_path / "nowhere"))
    with pytest.raises(ModelError, match="nowhere"):
        trained_base(gone)
    nothing = _with_base(run, tmp_path / "nothing", named=None, recorded=None)
    with pytest.raises(ModelError, match="names no base"):
        trained_base(nothing)
