"""--engine vllm. vLLM needs a CUDA GPU, so CI checks (1) the clear error when vLLM is missing,
(2) the backend's use of the vLLM API against a stand-in `vllm` module whose `LLM` samples
with transformers from the tiny base (same call shapes: prompts, SamplingParams per prompt,
lora_request per prompt → outputs with text, token_ids, cumulative_logprob), and (3) the mora
constraint as a vLLM V1 logits processor, driven by a stand-in engine that runs custom logits
processors as vLLM's V1 engine does: built once with (vllm_config, device, is_pin_memory), a
persistent batch of at most `max_num_seqs` requests whose changes reach `update_state` as a
BatchUpdate (removed, added with the live output-id list, moved: condensing one-way moves and
reordering swaps, in that order; None when unchanged), then `apply(logits)` on the batch's
(rows × vocabulary) logits before sampling. Not run on real vLLM here (no GPU, no vllm)."""

from __future__ import annotations

import enum
import importlib
import importlib.util
import math
import sys
import time
import types
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Sequence
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
    extra_args: dict[str, Any] | None = None


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


# -- the mora constraint as a vLLM V1 logits processor ------------------------------------------
class MoveDirectionality(enum.Enum):
    UNIDIRECTIONAL = enum.auto()
    SWAP = enum.auto()


@dataclass(frozen=True)
class BatchUpdate:
    batch_size: int
    removed: Sequence[int]
    added: Sequence[tuple[int, Any, list[int] | None, list[int]]]
    moved: Sequence[tuple[int, int, MoveDirectionality]]


class LogitsProcessor(ABC):
    """vllm.v1.sample.logits_processor.LogitsProcessor's contract."""

    @classmethod
    def validate_params(cls, sampling_params: Any) -> None:
        return None

    @abstractmethod
    def __init__(self, vllm_config: Any, device: Any, is_pin_memory: bool) -> None: ...

    @abstractmethod
    def apply(self, logits: Any) -> Any: ...

    @abstractmethod
    def is_argmax_invariant(self) -> bool: ...

    def needs_output_token_ids(self) -> bool:
        return False

    @abstractmethod
    def update_state(self, batch_update: BatchUpdate | None) -> None: ...


@pytest.fixture
def vllm_v1(fake_vllm):
    """The stand-in `vllm` with the V1 logits-processor module and an `LLM` that is the V1
    engine stand-in; tsukeku's processor module re-imported against it (and after)."""
    names = ("vllm.v1", "vllm.v1.sample", "vllm.v1.sample.logits_processor")
    saved = {n: sys.modules.get(n) for n in names}
    interface = types.ModuleType("vllm.v1.sample.logits_processor")
    interface.LogitsProcessor = LogitsProcessor
    interface.BatchUpdate = BatchUpdate
    interface.MoveDirectionality = MoveDirectionality
    for name in names[:-1]:
        sys.modules[name] = types.ModuleType(name)
    sys.modules[names[-1]] = interface
    fake_vllm.LLM = V1EngineLLM
    import tsukeku.backends.vllm_constraints as constraints

    importlib.reload(constraints)
    yield constraints
    for name, module in saved.items():
        if module is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = module
    importlib.reload(constraints)


@dataclass
class _Child:
    prompt: str
    params: Any
    ids: list[int]
    generator: Any
    output: list[int] = field(default_factory=list)
    logprob: float = 0.0
    text: str = ""
    done: bool = False


class V1EngineLLM:
    """vllm.LLM as far as custom logits processors see it (V1 engine): processors named by
    class or by "module:Class" (which must subclass LogitsProcessor), validate_params at
    admission, n samples per prompt as n requests, and a persistent batch of at most
    `max_num_seqs` rows changed between steps as vLLM's InputBatch changes: finished requests
    replaced by new ones in increasing index order, the rest appended; unreplaced finished
    ones removed and the batch condensed (highest row moved into the lowest hole); every other
    step the first two rows swapped (reordering). Sampling: temperature, then the processed
    logits; eos, a stop string or max_tokens end a request."""

    def __init__(self, model: str, dtype: str = "auto", logits_processors: Sequence[Any] = (),
                 max_num_seqs: int = 3, **kwargs: Any) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model)
        self.model = AutoModelForCausalLM.from_pretrained(model)
        vocab = self.model.config.vocab_size
        config = types.SimpleNamespace(model_config=types.SimpleNamespace(
            tokenizer=model, get_vocab_size=lambda: vocab))
        self.processors = [self._load(p)(config, torch.device("cpu"), False)
                           for p in logits_processors]
        self.max_num_seqs = max_num_seqs
        self.calls: list[tuple[list[str], list[Any], list[Any]]] = []
        self.updates: list[BatchUpdate | None] = []

    @staticmethod
    def _load(spec: Any) -> type:
        if isinstance(spec, str):
            module, _, name = spec.partition(":")
            spec = getattr(importlib.import_module(module), name)
        assert issubclass(spec, LogitsProcessor), f"{spec} is not a LogitsProcessor"
        return spec

    def get_tokenizer(self) -> Any:
        return self.tokenizer

    def generate(self, prompts, params, lora_request=None, use_tqdm=True):
        import torch

        self.calls.append((list(prompts), list(params), list(lora_request or [])))
        for p in params:
            for proc in self.processors:
                type(proc).validate_params(p)
        children: list[list[_Child]] = []
        for prompt, p in zip(prompts, params, strict=True):
            ids = self.tokenizer(prompt)["input_ids"]
            children.append([
                _Child(prompt, p, ids, torch.Generator().manual_seed((p.seed or 0) * 1000 + k))
                for k in range(p.n)])
        self._run(deque(c for group in children for c in group))
        self.last_outputs = [[types.SimpleNamespace(
            text=c.text, token_ids=list(c.output), cumulative_logprob=c.logprob) for c in group]
            for group in children]
        return [types.SimpleNamespace(outputs=group) for group in self.last_outputs]

    def _run(self, waiting: deque[_Child]) -> None:
        import torch

        batch: list[_Child | None] = []
        step = 0
        while waiting or batch:
            update = self._schedule(batch, waiting, step)
            self.updates.append(update)
            for proc in self.processors:
                proc.update_state(update)
            if not batch:  # the last requests finished
                break
            with torch.inference_mode():
                logits = torch.stack([
                    self.model(input_ids=torch.tensor([c.ids + c.output])).logits[0, -1]
                    for c in batch])
            temps = torch.tensor([max(c.params.temperature, 1e-5) for c in batch])
            logits = logits / temps[:, None]
            for proc in self.processors:
                logits = proc.apply(logits)
            logprobs = torch.log_softmax(logits, dim=-1)
            for row, child in enumerate(batch):
                token = int(torch.multinomial(logprobs[row].exp(), 1,
                                              generator=child.generator))
                child.output.append(token)
                child.logprob += float(logprobs[row, token])
                self._finish(child)
            step += 1

    def _finish(self, child: _Child) -> None:
        p = child.params
        text = self.tokenizer.decode(child.output, skip_special_tokens=True)
        stops = [text.find(s) for s in p.stop if s in text]
        if stops or child.output[-1] == self.tokenizer.eos_token_id \
                or len(child.output) >= p.max_tokens:
            child.text = text[:min(stops)] if stops else text
            child.done = True

    def _schedule(self, batch: list[_Child | None], waiting: deque[_Child], step: int
                  ) -> BatchUpdate | None:
        finished = sorted(i for i, c in enumerate(batch) if c is not None and c.done)
        for i in finished:
            batch[i] = None
        room = self.max_num_seqs - sum(c is not None for c in batch)
        new = [waiting.popleft() for _ in range(min(room, len(waiting)))]
        added, removed, moved = [], [], []
        for i in finished:
            if new:
                batch[i] = new.pop(0)
                added.append((i, batch[i].params, batch[i].ids, batch[i].output))
            else:
                removed.append(i)
        for child in new:
            batch.append(child)
            added.append((len(batch) - 1, child.params, child.ids, child.output))
        while None in batch:  # condense: the highest row fills the lowest hole
            while batch and batch[-1] is None:
                batch.pop()
            if None not in batch:
                break
            hole, last = batch.index(None), len(batch) - 1
            batch[hole], batch[last] = batch[last], None
            moved.append((last, hole, MoveDirectionality.UNIDIRECTIONAL))
        if step % 2 and len(batch) >= 2:  # reordering
            batch[0], batch[1] = batch[1], batch[0]
            moved.append((0, 1, MoveDirectionality.SWAP))
        if not (added or removed or moved):
            return None
        return BatchUpdate(len(batch), removed, added, moved)


def _v1_registry(models: Path) -> Any:
    """The registry as `tsukeku serve --engine vllm` builds it: default_llm makes the LLM."""
    return load_registry(ModelSource("file", models), engine="vllm")


def test_the_processor_follows_the_persistent_batch(vllm_v1, tiny_base):
    """Requests added, swapped and condensed: each row keeps its own request's automaton state
    (the masks equal those of a one-row transformers-engine processor fed the same tokens), and
    rows of requests without the constraint are left untouched."""
    import torch

    from tsukeku.generation.constraints import Meter, MoraConstraintLogitsProcessor, automaton_for
    from tsukeku.generation.token_table import table_for

    llm = V1EngineLLM(str(tiny_base), logits_processors=[vllm_v1.PROCESSOR])
    proc = llm.processors[0]
    tok = llm.tokenizer
    end_ids = vllm_v1.end_token_ids(tok, table_for(tok), "\n")
    vocab = llm.model.config.vocab_size
    auto = automaton_for(table_for(tok), end_ids, vocab)
    forms = {0: "7-7", 1: None, 2: "5-7-5"}
    outputs = {i: [] for i in forms}
    params = {i: SamplingParams(extra_args=vllm_v1.request_args(f, False, end_ids) if f else None)
              for i, f in forms.items()}
    for p in params.values():
        type(proc).validate_params(p)
    proc.update_state(BatchUpdate(3, [], [(i, params[i], [], outputs[i]) for i in forms], []))
    refs = {i: MoraConstraintLogitsProcessor(auto, [Meter.of(f)], 0) for i, f in forms.items() if f}
    written = tok("ゆきのした", add_special_tokens=False)["input_ids"]
    for t in written:  # vLLM appends to the live lists; the processor reads them at apply
        outputs[0].append(t)
        refs[0].advance([t])
    logits = torch.zeros(3, vocab)
    out = proc.apply(logits.clone())
    assert torch.equal(out[1], logits[1])  # unconstrained: untouched
    expected = {i: auto.mask(r.states)[0, :vocab] for i, r in refs.items()}
    assert not torch.equal(expected[0], expected[2])  # the two rows' states differ
    for i in (0, 2):
        assert torch.equal(torch.isfinite(out[i]), expected[i])
    # reordering swaps rows 0 and 2; then the unconstrained request finishes and is removed,
    # and the batch is condensed (row 2 moves into row 1)
    proc.update_state(BatchUpdate(3, [], [], [(0, 2, MoveDirectionality.SWAP)]))
    proc.update_state(BatchUpdate(2, [1], [], [(2, 1, MoveDirectionality.UNIDIRECTIONAL)]))
    out = proc.apply(torch.zeros(2, vocab))
    assert torch.equal(torch.isfinite(out[0]), expected[2])
    assert torch.equal(torch.isfinite(out[1]), expected[0])
    with pytest.raises(ValueError, match="form"):
        type(proc).validate_params(SamplingParams(extra_args={vllm_v1.EXTRA_KEY: {"form": "8"}}))


def test_vllm_engine_with_the_processor_decodes_only_verses_of_the_form(
        vllm_v1, tiny_base, tmp_path, monkeypatch):
    monkeypatch.delenv("TSUKEKU_VLLM_CONSTRAINTS", raising=False)
    models = write_models_file(tmp_path / "models.yaml", "base", base=tiny_base)
    registry = _v1_registry(models)
    backend = registry.get("base")
    assert backend.supports_constraints is True
    assert registry.describe()[0]["supports_constraints"] is True
    requests = [ComposeRequest(previous=PREVIOUS, n=3, seed=1, max_new_tokens=12),
                ComposeRequest(previous="袖にかかる 春の淡雪", n=2, seed=2, max_new_tokens=12),
                ComposeRequest(previous=PREVIOUS, n=2, seed=3, constrained=False,
                               max_new_tokens=12)]
    results = backend.compose_many(requests)
    prompts, params, _ = backend.llm.calls[-1]
    assert params[0].extra_args and params[1].extra_args and not params[2].extra_args
    assert params[0].max_tokens > 12  # room for a whole verse, as the hf engine gives
    # the stand-in's batch changed under the processor: adds into freed rows, removals,
    # condensing moves and swaps all happened while constrained requests were running
    updates = [u for u in backend.llm.updates if u is not None]
    assert any(u.removed for u in updates) and any(
        d is MoveDirectionality.UNIDIRECTIONAL for u in updates for _, _, d in u.moved)
    assert any(d is MoveDirectionality.SWAP for u in updates for _, _, d in u.moved)
    assert any(a[0] < u.batch_size - 1 for u in updates[1:] for a in u.added)
    from tsukeku.prosody import check_form

    for result, form in zip(results[:2], ("7-7", "5-7-5"), strict=True):
        assert result.constrained is True and result.form == form
        assert result.candidates and all(c.ok for c in result.candidates)
        assert any("mora-constrained" in n for n in result.notes)
    # the sampled rows themselves keep the form (not only the kept candidates); a row may end
    # early at a dead end of the automaton (as on the hf engine) and is then filtered out —
    # without the processor, none of the tiny base's samples has the form
    sampled = [s for s in backend.llm.last_outputs[:2] for s in s]
    kept = [check_form(backend.template.parse(s.text), form).ok
            for s, form in zip(sampled, ["7-7"] * params[0].n + ["5-7-5"] * params[1].n,
                               strict=True)]
    assert sum(kept) >= 0.8 * len(kept)
    assert results[2].constrained is False

    from fastapi.testclient import TestClient

    from tsukeku.serving.app import create_app

    with TestClient(create_app({"base": backend})) as client:
        models = {m["name"]: m for m in client.get("/health").json()["models"]}
        assert models["base"]["supports_constraints"] is True


def test_without_the_processor_the_engine_says_so(vllm_v1, tiny_base, tmp_path, monkeypatch):
    monkeypatch.setenv("TSUKEKU_VLLM_CONSTRAINTS", "0")
    models = write_models_file(tmp_path / "models.yaml", "base", base=tiny_base)
    backend = _v1_registry(models).get("base")
    assert backend.supports_constraints is False and not backend.llm.processors
    result = backend.compose(ComposeRequest(previous=PREVIOUS, n=2, seed=1, max_new_tokens=12))
    assert not backend.llm.calls[-1][1][0].extra_args
    assert result.constrained is False and any("without" in n for n in result.notes)
    from fastapi.testclient import TestClient

    from tsukeku.serving.app import create_app

    with TestClient(create_app({"base": backend})) as client:
        models = {m["name"]: m for m in client.get("/health").json()["models"]}
        assert models["base"]["supports_constraints"] is False


# -- a seat of a renga session ------------------------------------------------------------------
# A seat of a 半歌仙 (秋・月, a 長句) after the first four verses of a bundled chain; verses
# written for these tests: two fit the seat, one is of spring, one has no moon.
AT_THE_MOON = "名月や 舟をとどめて 人を待つ"
MOON_AGAIN = "月影に 小舟を寄せて 夜を明かす"
OF_SPRING = "春風に 舟をとどめて 人を待つ"
NO_MOON = "ただ歩む 道の果てまで 人を待つ"


class ScriptedLLM:
    """vllm.LLM's generate with scripted answers (each prompt's n samples cycle through
    `answers`): the seat checks need verses a tiny untrained model does not write."""

    def __init__(self, base: str, answers: list[str]) -> None:
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(base)
        self.answers = answers
        self.calls: list[tuple[list[str], list[SamplingParams], list[Any]]] = []

    def get_tokenizer(self) -> Any:
        return self.tokenizer

    def generate(self, prompts, params, lora_request=None, use_tqdm=True):
        self.calls.append((list(prompts), list(params), list(lora_request or [])))
        return [types.SimpleNamespace(outputs=[
            types.SimpleNamespace(text=self.answers[k % len(self.answers)], token_ids=[1, 2, 3],
                                  cumulative_logprob=None) for k in range(p.n)]) for p in params]


def _seat_chain() -> list[str]:
    from tsukeku.corpus.bundled import bundled_chains
    from tsukeku.renga.saijiki import default_path

    if not default_path().exists():
        pytest.skip("the bundled saijiki is not written yet")
    return [v.text for v in bundled_chains()[3].verses[:4]]


def _scripted(tiny_base, tmp_path, answers: list[str]) -> Any:
    models = write_models_file(tmp_path / "models.yaml", "base", base=tiny_base)
    return load_registry(ModelSource("file", models), engine="vllm",
                         llm_factory=lambda base, lora, dtype: ScriptedLLM(base, answers)
                         ).get("base")


def test_a_seat_is_named_in_the_prompt_and_filters_the_candidates(fake_vllm, tiny_base, tmp_path):
    """A session's model turn on the vLLM engine honours the seat as the remote backends do:
    the prompt names the seat's season and topics, only candidates that pass the seat's
    checks come back (sampled again until enough or `seat_rounds` generate calls), and a
    request without a seat in the same micro-batch is answered as before, unfiltered."""
    from tsukeku.generation.types import SeatSpec

    chain = _seat_chain()
    backend = _scripted(tiny_base, tmp_path, [AT_THE_MOON, OF_SPRING, NO_MOON])
    assert backend.composes_for_seats is True
    seat_request = ComposeRequest(previous=chain, n=2, form="7-7", seat=SeatSpec(profile="半歌仙"))
    plain = ComposeRequest(previous=PREVIOUS, n=3, form="5-7-5")
    plain_result, seat_result = backend.compose_many([plain, seat_request])

    assert [c.text for c in seat_result.candidates] == [AT_THE_MOON]  # the others fail the seat
    assert seat_result.form == "5-7-5"  # the seat's kind (長句), not the request's form
    assert seat_result.seat["season"] == "秋" and seat_result.seat["topics"] == ["月"]
    assert seat_result.previous == chain
    assert any("only 1 candidate" in n for n in seat_result.notes)
    calls = backend.llm.calls
    assert len(calls) == 1 + backend.seat_rounds  # never enough: every round was asked
    assert len(calls[0][0]) == 1 and PREVIOUS in calls[0][0][0] and "座" not in calls[0][0][0]
    for prompts, _, _ in calls[1:]:
        assert len(prompts) == 1 and "座：秋・月" in prompts[0] and chain[-1] in prompts[0]
    assert sorted(c.text for c in plain_result.candidates) == sorted(
        [AT_THE_MOON, OF_SPRING, NO_MOON])  # no seat: the form check only
    assert plain_result.seat is None


def test_enough_fitting_candidates_take_one_round(fake_vllm, tiny_base, tmp_path):
    from tsukeku.generation.seat_compose import compose_for_seat

    chain = _seat_chain()
    backend = _scripted(tiny_base, tmp_path, [OF_SPRING, AT_THE_MOON, NO_MOON, MOON_AGAIN])
    result = compose_for_seat(backend, chain, n=2, profile="半歌仙")
    assert sorted(c.text for c in result.candidates) == sorted([AT_THE_MOON, MOON_AGAIN])
    assert len(backend.llm.calls) == 1  # compose_for_seat leaves the seat to the backend
    assert "座：秋・月" in backend.llm.calls[0][0][0]
    assert sum("filtered by the seat checks" in n for n in result.notes) == 1
    assert any("failed the seat checks" in n for n in result.notes)
