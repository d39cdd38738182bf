"""The Composer: 前句 (or a chain) in, ranked 付句 candidates out, from a local causal LM.

- The prompt is the model's own template (prompt.json of its training run, else `completion`):
  the last verse is the 前句, up to two verses before it are context.
- Sampling is transformers' `generate` (one call serves every request of a `compose_many`
  batch: prompts left-padded, each row with its own form, sampling settings and adapter).
- With `constrained=True` a `MoraConstraintLogitsProcessor` keeps each row inside its form, and
  every candidate is then checked again by the independent checker (`prosody.check_form` on
  the candidate's own text). The token table reads a kanji token on its own, while the checker
  reads the whole verse, so a reading can differ (今日: けふ / こんにち); such candidates are
  dropped and more are sampled, never returned. `notes` says how many.
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsukeku.errors import ConfigError, InputError
from tsukeku.generation.candidates import Checked, make_candidate, rank, target_form
from tsukeku.generation.loaded_model import BASE_ADAPTER, LoadedModel
from tsukeku.generation.rerank import Reranker
from tsukeku.generation.types import ComposeRequest, CompositionResult
from tsukeku.prompts import resolve_template

MAX_ROWS = 64  # rows one request may sample in one round (its limits: ComposeRequest)
MAX_ROUNDS = 4


@dataclass
class Plan:
    """One request being served (`Composer.plan`): its prompt, form and the candidates gathered
    so far."""

    request: ComposeRequest
    form: str
    previous: str  # the 前句 spaced per ku
    prompt: str
    meter: Any  # constraints.Meter or None
    adapter: str | None
    max_new_tokens: int
    checked: list[Checked] = field(default_factory=list)
    sampled: int = 0
    failed_check: int = 0
    unfinished: int = 0
    resynced: int = 0  # ku recounted by the analyser while decoding
    stopped: int = 0  # rows stopped early: a finished ku read off the meter
    rounds: int = 0
    job: Any = None  # seat_compose.SeatJob when composing for a seat
    planner: Any = None  # seat_compose.RowPlanner (each row's season word), made when needed

    def distinct_ok(self) -> int:
        return len({c.candidate.text for c in self.checked if c.acceptable})

    def rows_wanted(self, round_no: int, oversample: float) -> int:
        n = self.request.n
        if self.meter is None and self.job is None:
            return n if round_no == 0 else 0
        missing = n - self.distinct_ok()
        if missing <= 0:
            return 0
        factor = oversample * (round_no + 1)
        return min(MAX_ROWS, max(missing, math.ceil(missing * factor)))


class Composer:
    """Composes 付句 with a local causal LM (see the module doc)."""

    def __init__(self, model: Any, tokenizer: Any = None, *, template: Any = None,
                 reranker: Reranker | None = None, name: str = "local",
                 adapter: str | None = None, oversample: float = 1.5,
                 max_rounds: int = MAX_ROUNDS, shared_prefill: bool = True):
        self.loaded = model if isinstance(model, LoadedModel) else LoadedModel(model, tokenizer)
        self.template = resolve_template(template, self.loaded.tokenizer)
        self.reranker = reranker or Reranker()
        self.name = name
        self.adapter = adapter
        self.oversample = oversample
        self.max_rounds = max_rounds
        # the rows of one prompt share one prefill of it (False: each row prefills its own,
        # as generate alone does; the sequences are the same)
        self.shared_prefill = shared_prefill
        self.table_info: dict[str, Any] | None = None
        self._table: tuple[Any, Any] | None = None
        self._end_cache: dict[str, Any] = {}
        # running totals over constrained rows (monitoring, benchmarks)
        self.stats: Counter[str] = Counter()

    @classmethod
    def load(cls, base: str | os.PathLike | None = None, adapter: str | os.PathLike | None = None,
             *, template: Any = None, name: str | None = None, dtype: str | None = None,
             device: str | None = None, known: str | os.PathLike | None = None) -> Composer:
        """A base (hub id, dir, "tiny") with an optional adapter (dir or run dir). `base` None:
        the base the adapter was trained on (a ModelError naming it when it is not there), or
        tiny without an adapter."""
        if base is None:
            from tsukeku.models.loader import trained_base

            base = trained_base(adapter) if adapter is not None else "tiny"
        loaded = LoadedModel.load(base, dtype=dtype, device=device)
        adapter_name = None
        adir = None
        if adapter is not None:
            adapter_name = "adapter"
            adir = loaded.add_adapter(adapter_name, adapter)
        from tsukeku.models import resolve_base

        base_dir = resolve_base(base)
        tpl = resolve_template(template, loaded.tokenizer, adir,
                               base_dir if Path(base_dir).exists() else None)
        reranker = Reranker.from_dataset(known) if known else None
        return cls(loaded, template=tpl, reranker=reranker, adapter=adapter_name,
                   name=name or (Path(str(adapter)).name if adapter else str(base)))

    @property
    def model(self) -> Any:
        return self.loaded.model

    @property
    def tokenizer(self) -> Any:
        return self.loaded.tokenizer

    # -- public API ---------------------------------------------------------------------------
    def compose(self, previous: str | list[str], n: int = 5, form: str = "auto",
                constrained: bool = True, **sampling: Any) -> CompositionResult:
        """Candidates for one 前句 (or chain, oldest first). `sampling`: temperature, top_p,
        top_k, max_new_tokens, seed, adapter, jiamari (fields of ComposeRequest)."""
        known = set(ComposeRequest.model_fields)
        unknown = sorted(set(sampling) - known)
        if unknown:
            raise InputError(f"unknown option(s) {', '.join(unknown)}; known: "
                             f"{', '.join(sorted(known - {'previous', 'n', 'form'}))}")
        request = ComposeRequest(previous=previous, n=n, form=form, constrained=constrained,
                                 **sampling)
        return self.compose_many([request])[0]

    def compose_many(self, requests: list[ComposeRequest]) -> list[CompositionResult]:
        """Serves several requests with one generate call (more only when constrained rows
        must be resampled, or adapters of a kind PEFT cannot mix in one batch)."""
        start = time.perf_counter()
        plans = [self.plan(r) for r in requests]
        calls = 0
        with self.loaded.lock:
            seeds = [p.request.seed for p in plans if p.request.seed is not None]
            if seeds:
                import torch

                torch.manual_seed(seeds[0])
            for round_no in range(self.max_rounds):
                rows: list[Plan] = []
                for plan in plans:
                    wanted = plan.rows_wanted(round_no, self.oversample)
                    if wanted:
                        plan.rounds += 1
                    rows.extend([plan] * wanted)
                if not rows:
                    break
                calls += self._generate(rows)
        elapsed = (time.perf_counter() - start) * 1000
        return [self._result(p, calls, elapsed) for p in plans]

    # -- planning -----------------------------------------------------------------------------
    def plan(self, req: ComposeRequest) -> Plan:
        """How `req` is served: its prompt (the model's template), form, meter, adapter and
        token budget; `Plan.rows_wanted` says how many rows each round samples."""
        from tsukeku.generation.constraints import Meter
        from tsukeku.generation.seat_compose import resolve

        chain = req.chain  # a ComposeRequest is valid once built (its fields hold the limits)
        job = resolve(req)
        form, spaced = target_form(job.form if job else req.form, chain[-1])
        context = [" ".join(v.split()) for v in chain[-3:-1] if v.strip()]
        prompt = self.template.render(spaced, form, context, job.seat if job else None)
        meter = Meter.of(form, req.jiamari) if req.constrained else None
        adapter = req.adapter if req.adapter is not None else self.adapter
        self._check_adapter(adapter)
        budget = req.max_new_tokens
        if meter is not None:
            # a verse cut short is no verse: room for every mora spelt in byte pieces
            budget = max(budget, 4 * sum(meter.caps) + len(meter.caps) + 1)
        return Plan(req, form, spaced, prompt, meter, adapter, budget, job=job)

    def _check_adapter(self, adapter: str | None) -> None:
        if adapter is None or adapter == BASE_ADAPTER:
            return
        if adapter not in self.loaded.adapters:
            known = ", ".join(sorted(self.loaded.adapters)) or "none"
            raise InputError(f"model {self.name!r} has no adapter {adapter!r} (adapters: "
                             f"{known}; {BASE_ADAPTER!r} for the base alone)")

    # -- generation ---------------------------------------------------------------------------
    def end_ids(self) -> list[int]:
        """Tokens that end a verse: eos, and the template's end marker when it is one token."""
        key = (id(self.tokenizer), self.template.end)
        if self._end_cache.get("key") != key:
            self._end_cache = {"key": key, "ids": self._find_end_ids()}
        return self._end_cache["ids"]

    def _find_end_ids(self) -> list[int]:
        tok = self.tokenizer
        ids = {tok.eos_token_id} if tok.eos_token_id is not None else set()
        marker = self.template.end.encode("utf-8") if self.template.end else b""
        if marker:
            table = self.token_table()
            ids.update(i for i, raw in enumerate(table.raw) if raw == marker)
        if not ids:
            raise ConfigError("the tokenizer has no eos token and the template's end marker is "
                              "not a single token: cannot tell where a verse ends")
        return sorted(ids)

    def token_table(self):
        from tsukeku.generation.token_table import table_for

        if self._table is not None and self._table[0] is self.tokenizer:
            return self._table[1]
        table = table_for(self.tokenizer)
        self._table = (self.tokenizer, table)
        if self.table_info is None:
            self.table_info = {"tokens": table.size, "build_seconds": round(table.build_seconds, 3),
                               "from_cache": table.from_cache, "key": table.key}
        return table

    def automaton(self):
        from tsukeku.generation.constraints import automaton_for

        return automaton_for(self.token_table(), self.end_ids(), _vocab_size(self.model))

    def _adapter_groups(self, rows: list[Plan]) -> list[tuple[str, Any, list[int]]]:
        """(mode, value, row indices): how the rows' adapters are applied in generate calls."""
        if not self.loaded.is_peft:
            return [("plain", None, list(range(len(rows))))]
        names = [r.adapter or BASE_ADAPTER for r in rows]
        if len(set(names)) == 1:
            mode = "base" if names[0] == BASE_ADAPTER else "set"
            return [(mode, names[0], list(range(len(rows))))]
        kinds = {self.loaded.adapter_type(n) for n in set(names) - {BASE_ADAPTER}}
        if kinds <= {"LORA"}:  # PEFT mixes LoRA adapters (and the base) within one batch
            return [("mixed", names, list(range(len(rows))))]
        groups: dict[str, list[int]] = {}
        for i, name in enumerate(names):
            groups.setdefault(name, []).append(i)
        return [("base" if n == BASE_ADAPTER else "set", n, idx) for n, idx in groups.items()]

    def _generate(self, rows: list[Plan]) -> int:
        calls = 0
        for mode, value, idx in self._adapter_groups(rows):
            self._generate_group([rows[i] for i in idx], mode, value)
            calls += 1
        return calls

    def _generate_group(self, rows: list[Plan], mode: str, adapter: Any) -> None:
        import contextlib

        import torch
        from transformers import LogitsProcessorList

        from tsukeku.generation.constraints import MoraConstraintLogitsProcessor
        from tsukeku.generation.sampling import row_sampling, row_stopping
        from tsukeku.generation.seat_compose import seat_forcing

        tok = self.tokenizer
        model = self.model
        device = _device(model)
        # the n candidates of a request share its prompt: each distinct (prompt, adapter) is
        # encoded, and prefilled, once
        keys = [(r.prompt, adapter[i] if mode == "mixed" else None) for i, r in enumerate(rows)]
        index = {k: i for i, k in enumerate(dict.fromkeys(keys))}
        distinct = list(index)
        enc_distinct = tok([k[0] for k in distinct], return_tensors="pt", padding=True,
                           padding_side="left").to(device)
        row_of = torch.tensor([index[k] for k in keys], device=device)
        enc = {k: v[row_of] for k, v in enc_distinct.items()}
        prompt_len = enc["input_ids"].shape[1]
        end_ids = self.end_ids()
        processors = LogitsProcessorList()
        constraint = forcing = None
        if any(r.meter is not None for r in rows):
            constraint = MoraConstraintLogitsProcessor(self.automaton(), [r.meter for r in rows],
                                                       prompt_len)
            processors.append(constraint)
            forcing = seat_forcing(self, rows, constraint)
            if forcing is not None:
                processors.append(forcing)
        per_row, kwargs = row_sampling([r.request.temperature for r in rows],
                                       [r.request.top_k for r in rows],
                                       [r.request.top_p for r in rows])
        if per_row is not None:
            processors.append(per_row)
        budgets = [r.max_new_tokens for r in rows]
        stopping = row_stopping(prompt_len, budgets)
        marker = self.template.end
        if marker and not any(self.token_table().raw[i] == marker.encode() for i in end_ids):
            if any(r.meter is None for r in rows):  # an end marker of several tokens
                kwargs.update(stop_strings=[marker], tokenizer=tok)
        if mode == "mixed":
            kwargs["adapter_names"] = list(adapter)
        ctx: Any = self.loaded.using(adapter) if mode in ("base", "set") else contextlib.nullcontext()
        pad = tok.pad_token_id if tok.pad_token_id is not None else end_ids[0]
        with ctx, torch.inference_mode():
            if self.shared_prefill and len(distinct) < len(rows) and prompt_len > 1:
                kwargs["cache"] = self._shared_prefill(enc_distinct, row_of, [k[1] for k in distinct]
                                                       if mode == "mixed" else None)
            out = model.generate(
                **enc, do_sample=True, max_new_tokens=max(budgets), eos_token_id=end_ids,
                pad_token_id=pad, logits_processor=processors, stopping_criteria=stopping,
                return_dict_in_generate=True, output_logits=True, **kwargs,
            )
        self._collect(rows, out, prompt_len, end_ids, constraint, forcing)

    def _shared_prefill(self, enc: Any, row_of: Any, adapter_names: list[str] | None) -> Any:
        """The KV cache of every prompt but its last token, computed once per distinct prompt
        and copied to each of its rows; generate then starts from the last prompt token. The
        positions follow generate's own for left padding (attention-mask cumsum)."""
        mask = enc["attention_mask"]
        positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
        extra = {"adapter_names": adapter_names} if adapter_names is not None else {}
        out = self.model(input_ids=enc["input_ids"][:, :-1], attention_mask=mask[:, :-1],
                         position_ids=positions[:, :-1], use_cache=True, **extra)
        cache = out.past_key_values
        cache.batch_select_indices(row_of)
        return cache

    def _collect(self, rows: list[Plan], out: Any, prompt_len: int, end_ids: list[int],
                 constraint: Any, forcing: Any = None) -> None:
        import torch

        seqs = out.sequences[:, prompt_len:]
        steps = len(out.logits)
        token_lp = torch.stack([
            torch.log_softmax(out.logits[t].float(), dim=-1).gather(1, seqs[:, t:t + 1])[:, 0]
            for t in range(steps)
        ], dim=1) if steps else torch.zeros(len(rows), 0)
        ends = set(end_ids)
        finished = constraint.complete() if constraint is not None else [True] * len(rows)
        written = forcing.written if forcing is not None else [True] * len(rows)
        for i, plan in enumerate(rows):
            ids = seqs[i].tolist()[: plan.max_new_tokens]
            length = next((j + 1 for j, t in enumerate(ids) if t in ends), len(ids))
            logprob = float(token_lp[i, :length].sum()) if length else None
            self.take(plan, ids[:length], logprob, finished=finished[i], written=written[i],
                      resyncs=constraint.resyncs[i] if constraint is not None else 0,
                      rejected=constraint.rejected[i] if constraint is not None else 0)

    def take(self, plan: Plan, ids: list[int], logprob: float | None, *, finished: bool,
             written: bool = True, resyncs: int = 0, rejected: int = 0) -> Checked:
        """One sampled row (its tokens up to and including the end token) checked and added to
        its plan; shared by `generate` batches and the step-level engine."""
        length = len(ids)
        ends = set(self.end_ids())
        text_ids = ids[: length - 1] if ids and ids[-1] in ends else ids
        raw = self.tokenizer.decode(text_ids, skip_special_tokens=True)
        text = self.template.parse(raw)
        checked = make_candidate(
            text, plan.form, previous=plan.previous, reranker=self.reranker,
            logprob=None if logprob is None else round(logprob, 4), n_tokens=length,
            jiamari=plan.request.jiamari, split_unspaced=plan.meter is None,
        )
        plan.sampled += 1
        plan.resynced += resyncs
        plan.stopped += rejected
        if plan.meter is not None:
            if not finished:
                plan.unfinished += 1
                checked.acceptable = False
            elif not checked.acceptable:
                plan.failed_check += 1
        if plan.job is not None:
            plan.job.missed += not written
            # the seat guarantee: a candidate of the form is kept only if it fits the seat
            if checked.acceptable and not plan.job.admit(checked.candidate.text):
                checked.acceptable = False
        plan.checked.append(checked)
        return checked

    # -- results ------------------------------------------------------------------------------
    def _result(self, plan: Plan, calls: int, elapsed_ms: float) -> CompositionResult:
        req = plan.request
        constrained = plan.meter is not None
        if constrained:
            self.stats.update(requests=1, sampled=plan.sampled, failed_check=plan.failed_check,
                              unfinished=plan.unfinished, resynced=plan.resynced,
                              stopped=plan.stopped, rounds=plan.rounds)
        candidates = rank(plan.checked, req.n,
                          only_acceptable=constrained or plan.job is not None)
        notes: list[str] = []
        if constrained:
            info = self.table_info or {}
            notes.append(
                "mora-constrained decoding"
                + (" with 字余り (+1 per ku) allowed" if req.jiamari else "")
                + f"; every candidate passed the independent form check ({plan.form})"
            )
            if info:
                how = "loaded from the disk cache" if info.get("from_cache") else "built"
                notes.append(f"token-reading table: {info['tokens']} tokens, {how} "
                             f"(build took {info['build_seconds']:.2f} s)")
            notes.append(f"sampled {plan.sampled} candidates in {plan.rounds} round(s)")
            if plan.failed_check:
                notes.append(
                    f"{plan.failed_check} sampled candidate(s) failed the final form check "
                    "(a kanji read differently in context than on its own) and were resampled"
                )
            if plan.resynced:
                notes.append(f"the analyser recounted {plan.resynced} ku while decoding (a "
                             "token's reading on its own differed from the ku's)")
            if plan.unfinished:
                notes.append(f"{plan.unfinished} row(s) did not finish a verse (within "
                             f"{plan.max_new_tokens} tokens, or stopped early: "
                             f"{plan.stopped} with a ku off the meter) and were resampled")
            if len(candidates) < req.n:
                notes.append(f"only {len(candidates)} distinct candidate(s) of the form after "
                             f"{plan.rounds} round(s) of sampling (asked for {req.n})")
        else:
            good = sum(c.ok for c in candidates)
            notes.append(f"unconstrained sampling: {good} of {len(candidates)} candidates have "
                         f"the form {plan.form}")
        if calls > 1:
            notes.append(f"{calls} generate calls served this batch")
        if plan.job is not None:
            notes += plan.job.notes(len(candidates), req.n)
        return CompositionResult(
            previous=req.previous, form=plan.form, candidates=candidates, model=self.name,
            constrained=constrained, notes=notes, latency_ms=round(elapsed_ms, 1),
            seat=plan.job.seat.to_dict() if plan.job is not None else None,
        )


def _device(model: Any) -> Any:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return "cpu"


def _vocab_size(model: Any) -> int:
    emb = model.get_output_embeddings()
    if emb is not None and hasattr(emb, "weight"):
        return int(emb.weight.shape[0])
    return int(model.config.vocab_size)


def with_adapter(requests: list[ComposeRequest], adapter: str | None) -> list[ComposeRequest]:
    """Requests without an adapter of their own take `adapter`."""
    return [r if r.adapter is not None or adapter is None else r.model_copy(update={"adapter": adapter})
            for r in requests]
