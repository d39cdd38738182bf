"""--engine vllm. vLLM needs a CUDA GPU, so CI checks (1) the clear error when vLLM is missing
and (2) the backend's use of the vLLM API against a stand-in `vllm` module whose `LLM` samples
with transformers from the tiny base (same call shapes: prompts, SamplingParams per prompt,
lora_request per prompt → outputs with text, token_ids, cumulative_logprob)."""

from __future__ import annotations

import importlib.util
import math
import sys
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serving.conftest import PREVIOUS
from tsukeku.errors import ConfigError
from tsukeku.generation.types import ComposeRequest
from tsukeku.serving.registry import (
    ModelSource,
    load_registry,
    registry_loader,
    write_models_file,
)


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed")
def test_missing_vllm_is_a_clear_error(tmp_path):
    models = write_models_file(tmp_path / "models.yaml", "base", base="tiny")
    with pytest.raises(ConfigError, match="pip install vllm"):
        registry_loader(models, engine="vllm")


@dataclass
class SamplingParams:
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1
    max_tokens: int = 16
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    logprobs: int | None = None


@dataclass
class LoRARequest:
    lora_name: str
    lora_int_id: int
    lora_path: str


class TransformersLLM:
    """Samples like vllm.LLM.generate, with transformers, from a local model directory."""

    def __init__(self, base: str) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(base)
        self.model = AutoModelForCausalLM.from_pretrained(base)
        self.calls: list[tuple[list[str], list[SamplingParams], list[Any]]] = []

    def get_tokenizer(self) -> Any:
        return self.tokenizer

    def generate(self, prompts, params, lora_request=None, use_tqdm=True):
        import torch

        self.calls.append((list(prompts), list(params), list(lora_request or [])))
        outputs = []
        for prompt, p in zip(prompts, params, strict=True):
            enc = self.tokenizer(prompt, return_tensors="pt")
            with torch.inference_mode():
                out = self.model.generate(
                    **enc, do_sample=True, num_return_sequences=p.n, max_new_tokens=p.max_tokens,
                    temperature=p.temperature, top_p=p.top_p, top_k=max(p.top_k, 0),
                    pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id)
            samples = []
            for row in out[:, enc["input_ids"].shape[1]:]:
                text = self.tokenizer.decode(row, skip_special_tokens=True)
                cut = min([text.find(s) for s in p.stop if s in text] or [len(text)])
                samples.append(types.SimpleNamespace(text=text[:cut], token_ids=row.tolist(),
                                                     cumulative_logprob=None))
            outputs.append(types.SimpleNamespace(outputs=samples))
        return outputs


@pytest.fixture
def fake_vllm(monkeypatch):
    vllm = types.ModuleType("vllm")
    vllm.SamplingParams = SamplingParams
    lora = types.ModuleType("vllm.lora")
    request = types.ModuleType("vllm.lora.request")
    request.LoRARequest = LoRARequest
    for name, module in (("vllm", vllm), ("vllm.lora", lora), ("vllm.lora.request", request)):
        monkeypatch.setitem(sys.modules, name, module)
    return vllm


def _lora_adapter(base, out):
    """A real PEFT LoRA adapter on the tiny base (untrained: enough to be loaded by name)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                           LoraConfig(r=2, target_modules=["query_key_value"]))
    model.save_pretrained(out)
    return out


def test_vllm_backend_batches_and_checks_forms(fake_vllm, tiny_base, tmp_path):
    adapter = _lora_adapter(tiny_base, tmp_path / "adapter")
    models = tmp_path / "models.yaml"
    models.write_text(
        "models:\n"
        f"  base: {{kind: local, base: {tiny_base}}}\n"
        f"  tuned: {{kind: local, base: {tiny_base}, adapter: adapter}}\n"
        "  far: {kind: openai, base_url: 'http://127.0.0.1:9/v1', model: x}\n"
    )
    engines: list[TransformersLLM] = []

    def factory(base, enable_lora, dtype):
        assert enable_lora is True  # an adapter is on this base
        engines.append(TransformersLLM(base))
        return engines[-1]

    registry = load_registry(ModelSource("file", models), engine="vllm", llm_factory=factory)
    assert registry.names() == ["base", "tuned", "far"] and registry.default == "base"
    assert len(engines) == 1  # two models, one base: one engine

    requests = [ComposeRequest(previous=PREVIOUS, n=2, max_new_tokens=12),
                ComposeRequest(previous="袖にかかる 春の淡雪", n=3, constrained=False,
                               max_new_tokens=12, top_k=5)]
    results = registry.get("tuned").compose_many(requests)
    prompts, params, loras = engines[0].calls[-1]
    assert len(prompts) == 2 and PREVIOUS in prompts[0]  # one generate call for the batch
    assert params[0].n == math.ceil(2 * 2.0) and params[1].n == 3  # oversampled when constrained
    assert params[0].top_k == -1 and params[1].top_k == 5
    assert "\n" in params[0].stop
    assert [lr.lora_path for lr in loras] == [str(adapter.resolve())] * 2
    assert results[0].form == "7-7" and results[1].form == "5-7-5"
    assert len(results[0].candidates) <= 2 and len(results[1].candidates) <= 3
    assert any("vLLM" in note for note in results[0].notes)

    registry.get("base").compose_many([requests[0]])
    assert engines[0].calls[-1][2] == [None]  # the base alone: no LoRA request


def test_vllm_engine_behind_the_server(fake_vllm, tiny_base, tmp_path, make_server):
    models = write_models_file(tmp_path / "models.yaml", "base", base=tiny_base)
    server = make_server(lambda: load_registry(
        ModelSource("file", models), engine="vllm",
        llm_factory=lambda base, lora, dtype: TransformersLLM(base)))
    for _ in range(600):
        if httpx.get(f"{server.url}/ping").status_code == 200:
            break
        time.sleep(0.05)
    r = httpx.post(f"{server.url}/invocations",
                   json={"inputs": PREVIOUS, "parameters": {"n": 2, "max_new_tokens": 12}},
                   timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["model"] == "base" and r.json()["form"] == "7-7"


def test_an_adapter_given_as_a_run_name_works_with_both_engines(fake_vllm, tiny_base, tmp_path):
    """Both engines read the models file through the same registry: a run name (prefix) under
    the file's runs/ folder resolves to the run's adapter for vLLM as for transformers."""
    run = tmp_path / "runs" / "lora-tiny-20260101T000000Z"
    _lora_adapter(tiny_base, run / "adapter")
    (run / "run.json").write_text('{"status": "completed"}')
    models = tmp_path / "models.yaml"
    models.write_text(f"models:\n  tuned: {{kind: local, base: {tiny_base}, adapter: lora-tiny}}\n")

    hf = load_registry(ModelSource("file", models)).get("tuned")
    adapter_dir = (run / "adapter").resolve()
    assert [Path(p).resolve() for p in hf.composer.loaded.adapters.values()] == [adapter_dir]
    vllm = load_registry(ModelSource("file", models), engine="vllm",
                         llm_factory=lambda base, lora, dtype: TransformersLLM(base)).get("tuned")
    vllm.compose_many([ComposeRequest(previous=PREVIOUS, n=1, max_new_tokens=8)])
    assert [lr.lora_path for lr in vllm.llm.calls[-1][2]] == [str(adapter_dir)]
