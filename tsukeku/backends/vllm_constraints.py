"""The mora constraint inside vLLM: a batch-level logits processor for vLLM's V1 engine.

vLLM (≥ 0.10.2; V0's per-request callables in `SamplingParams.logits_processors` are gone)
applies logits processors to the whole persistent batch: a subclass of
`vllm.v1.sample.logits_processor.LogitsProcessor`, built once per engine with
`__init__(vllm_config, device, is_pin_memory)` and named in `LLM(logits_processors=[...])`. Each
engine step vLLM calls `update_state(batch_update)` — requests added (index, SamplingParams,
prompt ids, the request's live list of output ids), removed, moved (one-way or swapped) in that
order, or None when the batch is unchanged — and then `apply(logits)` on the
(batch, vocabulary) logits. A request asks for the constraint in
`SamplingParams.extra_args[EXTRA_KEY]` = {"form", "jiamari", "end_ids"}; other requests are left
alone.

Nothing of the automaton is re-implemented here: each constrained request gets a one-row
`generation.constraints.MoraConstraintLogitsProcessor` over the shared `MoraAutomaton` (the
same states, masks and analyser resync as the transformers engine), advanced with the tokens
vLLM appended to the request's output list; a step is one mask gather for all constrained rows.

vLLM's newer Model Runner V2 has a different logits-processor contract (no BatchUpdate; per
slot `add_request`, row-to-slot mapping in `apply`) that is still changing; with such a vLLM set
`VLLM_USE_V2_MODEL_RUNNER=0`, or serve without the constraint (TSUKEKU_VLLM_CONSTRAINTS=0:
sample and filter, `supports_constraints: false`). Tested here against a stand-in of the V1
interface only (tests/serving/test_vllm_engine.py); vLLM itself needs a CUDA GPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

try:  # the class vLLM requires processors to subclass; absent without vLLM
    from vllm.v1.sample.logits_processor import LogitsProcessor as _VLLMBase
except ImportError:  # pragma: no cover - depends on the installed packages
    _VLLMBase = object

EXTRA_KEY = "tsukeku_mora"
PROCESSOR = "tsukeku.backends.vllm_constraints:MoraLogitsProcessor"  # for LLM(logits_processors=)


def available() -> bool:
    """Whether the installed vLLM has the V1 logits-processor interface this module targets."""
    return _VLLMBase is not object


def request_args(form: str, jiamari: bool, end_ids: list[int]) -> dict[str, Any]:
    """`SamplingParams.extra_args` asking for the constraint."""
    return {EXTRA_KEY: {"form": form, "jiamari": bool(jiamari), "end_ids": list(end_ids)}}


def end_token_ids(tokenizer: Any, table: Any, marker: str) -> list[int]:
    """Tokens that end a verse: eos, and the template's end marker where it is one token (as
    the transformers engine takes them)."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    raw = marker.encode("utf-8") if marker else b""
    if raw:
        ids.update(i for i, piece in enumerate(table.raw) if piece == raw)
    return sorted(ids)


@dataclass
class _Row:
    constraint: Any  # a one-row MoraConstraintLogitsProcessor
    output: list[int]  # vLLM's running list of the request's output ids (a live reference)
    seen: int = 0  # how many of them the constraint has consumed


class MoraRows:
    """Batch index → constrained request; the part of the processor that knows no vLLM."""

    def __init__(self, tokenizer: Any, vocab_size: int) -> None:
        from tsukeku.generation.token_table import table_for

        self.table = table_for(tokenizer)
        self.vocab_size = vocab_size
        self.rows: dict[int, _Row] = {}

    def add(self, index: int, args: dict[str, Any] | None, output: list[int]) -> None:
        self.rows.pop(index, None)  # an added request may replace the one at its index
        if not args:
            return
        from tsukeku.generation.constraints import (
            Meter,
            MoraConstraintLogitsProcessor,
            automaton_for,
        )

        automaton = automaton_for(self.table, list(args["end_ids"]), self.vocab_size)
        meter = Meter.of(args["form"], bool(args.get("jiamari", False)))
        self.rows[index] = _Row(MoraConstraintLogitsProcessor(automaton, [meter], 0), output)

    def remove(self, index: int) -> None:
        self.rows.pop(index, None)

    def move(self, src: int, dst: int, swap: bool) -> None:
        a = self.rows.pop(src, None)
        b = self.rows.pop(dst, None)
        if a is not None:
            self.rows[dst] = a
        if swap and b is not None:
            self.rows[src] = b

    def apply(self, logits: Any) -> Any:
        if not self.rows:
            return logits
        import torch

        groups: dict[int, tuple[Any, list[int], list[int]]] = {}
        for index, row in self.rows.items():
            self._catch_up(row)
            constraint = row.constraint
            auto = constraint.automaton
            _, indices, states = groups.setdefault(id(auto), (auto, [], []))
            indices.append(index)
            states.append(constraint.states[0])
        vocab = logits.shape[-1]
        for auto, indices, states in groups.values():
            allowed = auto.mask(states, logits.device)
            if allowed.shape[1] > vocab:
                allowed = allowed[:, :vocab]
            elif allowed.shape[1] < vocab:  # padded vocabulary: the padding is never allowed
                pad = torch.zeros(len(states), vocab - allowed.shape[1], dtype=torch.bool,
                                  device=logits.device)
                allowed = torch.cat([allowed, pad], dim=1)
            rows = torch.tensor(indices, dtype=torch.long, device=logits.device)
            logits[rows] = logits[rows].masked_fill(~allowed, float("-inf"))
        return logits

    @staticmethod
    def _catch_up(row: _Row) -> None:
        """Feeds the constraint the tokens vLLM appended since the last step (one, normally;
        -1 is vLLM's placeholder for a token not yet known under async scheduling)."""
        out = row.output
        while row.seen < len(out) and out[row.seen] >= 0:
            row.constraint.advance([int(out[row.seen])])
            row.seen += 1

    def complete(self, index: int) -> bool:
        row = self.rows.get(index)
        return row is not None and row.constraint.complete()[0]


class MoraLogitsProcessor(_VLLMBase):  # type: ignore[misc,valid-type]
    """vLLM V1 logits processor: the mora constraint for requests whose extra_args ask for it."""

    def __init__(self, vllm_config: Any, device: Any, is_pin_memory: bool) -> None:
        from tsukeku.models import load_tokenizer

        model = vllm_config.model_config
        self.device = device
        self.rows = MoraRows(load_tokenizer(model.tokenizer), model.get_vocab_size())

    @classmethod
    def validate_params(cls, sampling_params: Any) -> None:
        from tsukeku.prosody import FORMS

        args = (getattr(sampling_params, "extra_args", None) or {}).get(EXTRA_KEY)
        if args is None:
            return
        if not isinstance(args, dict) or args.get("form") not in FORMS or not args.get("end_ids"):
            raise ValueError(f"extra_args[{EXTRA_KEY!r}] needs form (one of {', '.join(FORMS)}) "
                             "and end_ids (the tokens that end a verse)")

    def is_argmax_invariant(self) -> bool:
        return False  # it masks tokens: greedy decoding must see it too

    def needs_output_token_ids(self) -> bool:
        return True  # the automaton reads each sampled token, not only their count

    def update_state(self, batch_update: Any) -> None:
        if batch_update is not None:
            for index in batch_update.removed:
                self.rows.remove(index)
            for index, params, _prompt, output in batch_update.added:
                args = (getattr(params, "extra_args", None) or {}).get(EXTRA_KEY)
                self.rows.add(index, args, output)
            for src, dst, direction in batch_update.moved:
                self.rows.move(src, dst, getattr(direction, "name", "") == "SWAP")

    def apply(self, logits: Any) -> Any:
        return self.rows.apply(logits)
