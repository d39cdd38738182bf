"""Local backends on the real tiny base: adapters unmerged on one shared base, chosen per
request, mixed in one generate call; templates found beside the run; a merged directory."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tsukeku.backends import registry_from_dict
from tsukeku.errors import InputError
from tsukeku.generation.loaded_model import BASE_ADAPTER
from tsukeku.generation.types import ComposeRequest
from tsukeku.prosody import check_form

from .conftest import LONG_PREVIOUS

GREEDY = {"temperature": 1e-4, "n": 1}  # ≈ greedy: the same text whatever the batch


def _save_adapter(base: Path, out: Path, config, seed: int, template=None) -> Path:
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(base))
    peft_model = get_peft_model(model, config)
    peft_model.save_pretrained(str(out / "adapter"))  # the layout of a tsukeku run dir
    if template is not None:
        template.save(out)
    return out


@pytest.fixture(scope="module")
def runs(tiny_base, tmp_path_factory):
    from peft import LoraConfig, OFTConfig

    from tsukeku.prompts import get_template

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("runs")
    lora = {"r": 8, "lora_alpha": 64, "target_modules": ["query_key_value", "dense_4h_to_h"],
            "init_lora_weights": False}  # random, so that the adapters change the output
    return {
        "a": _save_adapter(tiny_base, root / "run-a", LoraConfig(**lora), 1,
                           get_template("instruction")),
        "b": _save_adapter(tiny_base, root / "run-b", LoraConfig(**lora), 2),
        **{name: _save_adapter(tiny_base, root / f"run-{name}",
                               OFTConfig(r=0, oft_block_size=16,
                                         target_modules=["query_key_value"], init_weights=False),
                               seed)
           for name, seed in (("oft1", 3), ("oft2", 4))},
    }


@pytest.fixture(scope="module")
def registry(tiny_base, runs):
    return registry_from_dict({"models": {
        "tuned": {"kind": "local", "base": str(tiny_base), "adapter": str(runs["a"])},
        "base": {"kind": "local", "base": str(tiny_base)},
        "multi": {"kind": "local", "base": str(tiny_base),
                  "adapters": {"a": str(runs["a"]), "b": str(runs["b"])},
                  "default_adapter": "b", "template": "completion"},
        "ofts": {"kind": "local", "base": str(tiny_base),
                 "adapters": {"x": str(runs["oft1"]), "y": str(runs["oft2"])}},
    }})


def test_models_on_one_base_share_the_weights(registry):
    tuned, base, multi = (registry.get(n) for n in ("tuned", "base", "multi"))
    assert tuned.loaded is base.loaded is multi.loaded
    assert set(multi.loaded.adapters) == {"tuned__default", "multi__a", "multi__b"}
    ofts = registry.get("ofts")  # PEFT keeps one method per model: OFT gets its own copy
    assert ofts.loaded is not multi.loaded and set(ofts.loaded.adapters) == {"ofts__x", "ofts__y"}
    assert all(b.supports_constraints for b in (tuned, base, multi))
    assert registry.get("tuned") is tuned  # built once


def test_template_comes_from_the_run(registry):
    assert registry.get("tuned").template.name == "instruction"  # run-a/prompt.json
    assert registry.get("base").template.name == "completion"  # nothing saved with the base
    assert registry.get("multi").template.name == "completion"  # named in the models file


def test_adapters_are_chosen_per_request_in_one_generate_call(registry, monkeypatch):
    multi = registry.get("multi")
    model = multi.loaded.model
    calls: list[dict] = []
    original = model.generate

    def spy(*args, **kwargs):
        calls.append({"rows": kwargs["input_ids"].shape[0],
                      "adapter_names": kwargs.get("adapter_names")})
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "generate", spy)
    requests = [ComposeRequest(previous=LONG_PREVIOUS, adapter=a, seed=0, **GREEDY)
                for a in ("a", "b", BASE_ADAPTER)]
    mixed = multi.compose_many(requests)
    assert len(calls) == 1 and calls[0]["rows"] == 6  # n=1 oversampled to 2 rows each
    assert calls[0]["adapter_names"] == ["multi__a"] * 2 + ["multi__b"] * 2 + [BASE_ADAPTER] * 2
    alone = [multi.compose(r) for r in requests]
    # the same as one adapter at a time
    assert [_texts(r) for r in mixed] == [_texts(r) for r in alone]
    # and the adapters really change the model
    logprobs = [r.candidates[0].logprob for r in alone if r.candidates]
    assert len(logprobs) == 3 and max(logprobs) - min(logprobs) > 1e-3


def _texts(result):
    return [c.text for c in result.candidates]


def test_default_adapter_and_base_model(registry):
    multi, base = registry.get("multi"), registry.get("base")
    by_default = multi.compose(ComposeRequest(previous=LONG_PREVIOUS, seed=0, **GREEDY))
    with_b = multi.compose(ComposeRequest(previous=LONG_PREVIOUS, adapter="b", seed=0, **GREEDY))
    assert _texts(by_default) == _texts(with_b)
    # the base model is the base alone even though adapters sit on the shared weights
    plain = base.compose(ComposeRequest(previous=LONG_PREVIOUS, seed=0, **GREEDY))
    disabled = multi.compose(ComposeRequest(previous=LONG_PREVIOUS, adapter=BASE_ADAPTER,
                                            seed=0, **GREEDY))
    assert _texts(plain) == _texts(disabled)


def test_oft_adapters_in_one_batch_take_one_call_per_adapter(registry, monkeypatch):
    ofts = registry.get("ofts")
    model = ofts.loaded.model
    calls = []
    original = model.generate
    monkeypatch.setattr(model, "generate",
                        lambda *a, **k: calls.append(k.get("adapter_names")) or original(*a, **k))
    results = ofts.compose_many([ComposeRequest(previous=LONG_PREVIOUS, adapter=a, **GREEDY)
                                 for a in ("x", "y")])
    assert calls == [None, None]  # PEFT mixes LoRA adapters only: one call per adapter
    assert any("2 generate calls" in n for n in results[0].notes)


def test_constrained_decoding_on_the_tuned_model(registry):
    result = registry.get("tuned").compose(ComposeRequest(previous=LONG_PREVIOUS, n=3, seed=1))
    assert result.candidates and result.constrained
    assert all(check_form(c.text, "7-7").ok for c in result.candidates)


def test_unknown_adapter_is_an_input_error(registry):
    with pytest.raises(InputError, match="no adapter 'c'"):
        registry.get("multi").compose(ComposeRequest(previous=LONG_PREVIOUS, adapter="c"))


def test_merged_directory_is_a_plain_base(tiny_base, runs, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(tiny_base))
    merged = PeftModel.from_pretrained(model, str(runs["b"] / "adapter")).merge_and_unload()
    merged.save_pretrained(tmp_path / "merged")
    AutoTokenizer.from_pretrained(str(tiny_base)).save_pretrained(tmp_path / "merged")
    reg = registry_from_dict({"models": {
        "merged": {"kind": "local", "base": str(tmp_path / "merged")},
        "unmerged": {"kind": "local", "base": str(tiny_base), "adapter": str(runs["b"])},
    }})
    got = reg.get("merged").compose(ComposeRequest(previous=LONG_PREVIOUS, seed=0, **GREEDY))
    ref = reg.get("unmerged").compose(ComposeRequest(previous=LONG_PREVIOUS, seed=0, **GREEDY))
    assert not hasattr(reg.get("merged").loaded.model, "peft_config")
    assert _texts(got) == _texts(ref)
