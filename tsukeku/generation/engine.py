"""Continuous batching: one step-level decode loop per local model, as vLLM and TGI do.

A background thread holds a running batch of rows (one row = one sampled candidate) with its
KV cache (a transformers `DynamicCache`, rows left-padded to a common length). Between two
decode steps, new requests are planned (`Composer._plan`: prompt, form, budget), their
distinct prompts are prefilled once and copied to their rows, and those rows are merged into
the running batch; rows whose candidate is finished (end token, budget, or a dead end of the
mora automaton) leave it, and the cache loses the columns no remaining row needs. A request is
answered as soon as it holds `n` distinct candidates that pass the form check, so the rest of
its rows stop early; when its rows are spent without that, more rows join in the next round
(the same rounds as `Composer.compose_many`).

Per row: the mora constraint (its own `MoraConstraintLogitsProcessor`, whose `KuState` moves
with the row's tokens), its temperature/top-k/top-p, its budget, and — for a request with a
seed — its own `torch.Generator` seeded from (seed, row number), so what a seeded request
samples does not depend on the requests it shares steps with (up to floating-point
differences of batched matrix products with other shapes, which can rarely flip a draw).

Requests the loop does not serve itself (seat-forcing requests, adapters PEFT cannot mix in one
batch with the running rows) are answered by `Composer.compose_many` on the same thread
between steps. Events (token deltas per candidate slot, the result) go to a callback that runs
on the engine thread; it must be quick (the serving layer hands them to the event loop).
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tsukeku.errors import Unavailable
from tsukeku.generation.composer import BASE_ADAPTER, MAX_ROWS, Composer, _device, _Plan
from tsukeku.generation.types import ComposeRequest, CompositionResult

log = logging.getLogger("tsukeku.generation.engine")

Event = tuple[str, Any]  # ("delta"|"restart"|"slot", (slot, text)) | ("done", result) | ("error", exc)
Listener = Callable[[Event], None]


@dataclass
class Job:
    """One request in the engine. `stream`: candidate slots 0..n-1 follow rows as they are
    decoded (see `tsukeku.generation.engine` and docs/serving.md)."""

    request: ComposeRequest
    listener: Listener | None = None
    stream: bool = False
    plan: _Plan | None = None
    submitted: float = field(default_factory=time.perf_counter)
    cancelled: bool = False
    finished: bool = False
    rows_started: int = 0
    live: int = 0  # rows in the running batch
    slots: dict[int, Row] = field(default_factory=dict)  # slot → the row it follows
    slot_text: dict[int, str] = field(default_factory=dict)  # accepted text of a done slot
    reserve: list[str] = field(default_factory=list)  # accepted texts no slot follows yet
    result: CompositionResult | None = None
    error: BaseException | None = None
    _done: threading.Event = field(default_factory=threading.Event)

    @property
    def constrained(self) -> bool:
        return self.plan is not None and self.plan.meter is not None

    def cancel(self) -> None:
        """The caller gave up (time-out, client gone): its rows leave at the next step."""
        self.cancelled = True

    def wait(self, timeout: float | None = None) -> CompositionResult:
        if not self._done.wait(timeout):
            raise TimeoutError("the engine did not answer in time")
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result

    def emit(self, kind: str, payload: Any) -> None:
        if self.listener is not None:
            try:
                self.listener((kind, payload))
            except Exception:  # a listener's bug must not stop the loop
                log.warning("engine listener failed", exc_info=True)


@dataclass
class Row:
    job: Job
    number: int
    adapter: str | None
    constraint: Any  # MoraConstraintLogitsProcessor of this row alone, or None
    generator: Any  # torch.Generator, or None: the engine's shared draws
    budget: int
    sampling: tuple[float, int, float]
    ids: list[int] = field(default_factory=list)
    logprob: float = 0.0
    pos: int = 0  # position of the next token fed
    shown: str = ""  # text streamed so far
    slot: int | None = None


class ContinuousEngine:
    """The step-level loop for one `Composer` (one model). `route` maps a request to the one the
    composer serves (a backend's adapter names); `max_requests` caps the requests decoded
    together (the rest wait for a free place)."""

    def __init__(self, composer: Composer, *, route: Callable[[ComposeRequest], ComposeRequest]
                 | None = None, max_requests: int = 16, name: str = "local",
                 on_step: Callable[[int, int, int, float], None] | None = None,
                 spare: float = 0.0):
        self.composer = composer
        self.route = route or (lambda r: r)
        self.max_requests = max_requests
        # extra rows a constrained request starts with (0.5: n = 3 starts 5 rows and takes the
        # first 3 distinct candidates of the form; 0: 3 rows, failures replaced as they end)
        self.spare = spare
        self.name = name
        # (requests joined, requests decoded, rows decoded, seconds) after each step
        self.on_step = on_step
        self.request_steps = 0  # sum over steps of the requests each step decoded
        self._waiting: deque[Job] = deque()
        self._jobs: list[Job] = []  # admitted, not finished
        self._rows: list[Row] = []
        self._cache: Any = None
        self._mask: Any = None  # (rows, columns) long: 1 where a row has a real token
        self._last: list[int] = []  # the token each row feeds next
        self._sampler: Any = None
        self._sampler_key: tuple | None = None
        self._cv = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self.steps = 0

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._stop = False
            self._thread = threading.Thread(target=self._loop, name=f"tsukeku-engine-{self.name}",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def waiting(self) -> int:
        return sum(1 for j in self._waiting if not j.cancelled)

    @property
    def running(self) -> int:
        return len(self._jobs)

    def submit(self, request: ComposeRequest, listener: Listener | None = None, *,
               stream: bool = False) -> Job:
        job = Job(request, listener, stream)
        with self._cv:
            if self._stop or self._thread is None:
                raise Unavailable(f"model {self.name!r} is not started")
            self._waiting.append(job)
            self._cv.notify()
        return job

    def compose_many(self, requests: list[ComposeRequest]) -> list[CompositionResult]:
        """Blocking: every request through the running loop (tests, benchmarks)."""
        jobs = [self.submit(r) for r in requests]
        return [j.wait() for j in jobs]

    # -- the loop -------------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cv:
                # a job with no rows left may still need replacements: that is work too
                while not (self._stop or self._waiting or self._rows or self._jobs):
                    self._cv.wait()
                if self._stop:
                    break
                admitted = self._admit_locked()
            try:
                self._step(admitted)
            except Exception as err:  # a bug or a backend failure: fail the batch, keep serving
                log.error("engine step failed", exc_info=True)
                for job in [*self._jobs, *admitted]:
                    self._fail(job, err)
                self._reset()
        self._shutdown()

    def _admit_locked(self) -> list[Job]:
        """Waiting jobs that fit into the running batch now (the lock is held)."""
        admitted: list[Job] = []
        while self._waiting and len(self._jobs) + len(admitted) < self.max_requests:
            job = self._waiting[0]
            if job.cancelled:
                self._waiting.popleft()
                self._fail(job, TimeoutError("the request was cancelled"))
                continue
            self._waiting.popleft()
            admitted.append(job)
        return admitted

    def _shutdown(self) -> None:
        err = Unavailable("the server is shutting down; retry")
        for job in [*self._jobs, *self._waiting]:
            self._fail(job, err)
        self._waiting.clear()
        self._reset()

    def _reset(self) -> None:
        self._jobs, self._rows = [], []
        self._cache = self._mask = None
        self._last = []

    # -- one step -------------------------------------------------------------------------------
    def _step(self, admitted: list[Job]) -> None:
        import torch

        started = time.perf_counter()
        self._retire()
        new_rows: list[Row] = []
        joined = len(admitted)
        for job in admitted:
            new_rows += self._start(job)
        self._drop_cancelled()
        # replacements for rows that ended without a candidate
        for job in list(self._jobs):
            if not job.finished and job.plan is not None and job not in admitted:
                new_rows += self._top_up(job)
        if not self._rows and not new_rows:
            return
        loaded = self.composer.loaded
        with loaded.lock, torch.inference_mode():
            logits_run = self._decode() if self._rows else None
            if new_rows:
                logits_new, cache, mask = self._prefill(new_rows)
                self._merge(new_rows, cache, mask)
                logits = logits_new if logits_run is None else torch.cat([logits_run, logits_new])
            else:
                logits = logits_run
            tokens, logprobs = self._sample(logits)
        decoded = len({id(r.job) for r in self._rows}), len(self._rows)
        self._advance(tokens, logprobs)
        self.steps += 1
        self.request_steps += decoded[0]
        if self.on_step is not None:
            self.on_step(joined, *decoded, time.perf_counter() - started)

    def _start(self, job: Job) -> list[Row]:
        """Plans a new job; returns its first rows (none when the composer answers it whole)."""
        try:
            request = self.route(job.request)
            plan = self.composer._plan(request)
            if plan.job is not None or not self._mixable(plan.adapter):
                # seat forcing, or an adapter PEFT cannot mix with the running rows: the
                # composer's own batch answers it between two steps
                result = self.composer.compose_many([request])[0]
                self._finish(job, result)
                return []
        except Exception as err:
            self._fail(job, err)
            return []
        job.plan = plan
        self._jobs.append(job)
        return self._top_up(job)

    def _mixable(self, adapter: str | None) -> bool:
        loaded = self.composer.loaded
        if not loaded.is_peft:
            return True
        names = {adapter or BASE_ADAPTER} | {r.adapter or BASE_ADAPTER for r in self._rows}
        if len(names) == 1:
            return True
        return {loaded.adapter_type(n) for n in names - {BASE_ADAPTER}} <= {"LORA"}

    def _top_up(self, job: Job) -> list[Row]:
        """New rows for `job`: a constrained request keeps as many rows decoding as it misses
        candidates (times 1 + `spare` when it starts), so a row that fails the form check is
        replaced at the next step instead of waiting for a round; an unconstrained one samples
        its `n` rows once. Completes the job when nothing is left to decode."""
        plan = job.plan
        assert plan is not None
        n = plan.request.n
        if not job.constrained:
            wanted = n if job.rows_started == 0 else 0
        else:
            if job.stream:
                self._fill_from_reserve(job)
                missing = self._free_slots(job)
            else:
                missing = n - plan.distinct_ok()
            target = missing if job.rows_started else math.ceil(missing * (1 + self.spare))
            cap = self.composer.max_rounds * max(n, math.ceil(n * self.composer.oversample))
            wanted = max(0, min(target - job.live, cap - job.rows_started, MAX_ROWS))
        if not wanted:
            if job.live == 0:
                self._complete(job)
            return []
        plan.rounds += 1
        return self._rows_for(job, wanted)

    def _rows_for(self, job: Job, wanted: int) -> list[Row]:
        import torch

        from tsukeku.generation.constraints import MoraConstraintLogitsProcessor

        plan = job.plan
        assert plan is not None
        req = plan.request
        rows = []
        automaton = self.composer.automaton() if plan.meter is not None else None
        for _ in range(wanted):
            number = job.rows_started
            job.rows_started += 1
            constraint = (MoraConstraintLogitsProcessor(automaton, [plan.meter], 0)
                          if automaton is not None else None)
            generator = None
            if req.seed is not None:
                generator = torch.Generator(device=_device(self.composer.model))
                generator.manual_seed((req.seed * 1_000_003 + number) % 2**63)
            rows.append(Row(job, number, plan.adapter, constraint, generator,
                            plan.max_new_tokens, (req.temperature, req.top_k, req.top_p)))
        job.live += len(rows)
        if job.stream:
            for row in rows:
                self._bind(job, row)
        return rows

    # -- the model ------------------------------------------------------------------------------
    def _forward_kwargs(self, rows: list[Row]) -> tuple[Any, dict[str, Any]]:
        loaded = self.composer.loaded
        if not loaded.is_peft:
            return contextlib.nullcontext(), {}
        names = [r.adapter or BASE_ADAPTER for r in rows]
        if len(set(names)) == 1:
            return loaded.using(names[0]), {}
        return contextlib.nullcontext(), {"adapter_names": names}

    def _prefill(self, rows: list[Row]) -> tuple[Any, Any, Any]:
        """Logits of the first new token of each row, their cache and attention mask; each
        distinct (prompt, adapter) is computed once and copied to its rows."""
        import torch

        tok = self.composer.tokenizer
        device = _device(self.composer.model)
        keys = [(r.job.plan.prompt, r.adapter) for r in rows]  # type: ignore[union-attr]
        index = {k: i for i, k in enumerate(dict.fromkeys(keys))}
        distinct = list(index)
        enc = tok([k[0] for k in distinct], return_tensors="pt", padding=True,
                  padding_side="left").to(device)
        mask = enc["attention_mask"].long()
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        ctx, extra = self._forward_kwargs([rows[keys.index(k)] for k in distinct])
        with ctx:
            out = self.composer.model(input_ids=enc["input_ids"], attention_mask=mask,
                                      position_ids=positions, use_cache=True, logits_to_keep=1,
                                      **extra)
        cache = _cache_of(out)
        row_of = torch.tensor([index[k] for k in keys], device=device)
        if len(distinct) < len(rows) or bool((row_of != torch.arange(len(rows),
                                                                       device=device)).any()):
            cache.batch_select_indices(row_of)
        lengths = mask.sum(-1)
        for row, k in zip(rows, keys, strict=True):
            row.pos = int(lengths[index[k]])
        return out.logits[:, -1, :][row_of], cache, mask[row_of]

    def _decode(self) -> Any:
        import torch

        device = _device(self.composer.model)
        ids = torch.tensor(self._last, device=device).unsqueeze(1)
        pos = torch.tensor([r.pos for r in self._rows], device=device).unsqueeze(1)
        ones = torch.ones(len(self._rows), 1, dtype=self._mask.dtype, device=device)
        self._mask = torch.cat([self._mask, ones], dim=1)
        ctx, extra = self._forward_kwargs(self._rows)
        with ctx:
            out = self.composer.model(input_ids=ids, attention_mask=self._mask, position_ids=pos,
                                      cache=self._cache, use_cache=True, **extra)
        self._cache = _cache_of(out)
        for row in self._rows:
            row.pos += 1
        return out.logits[:, -1, :]

    def _merge(self, rows: list[Row], cache: Any, mask: Any) -> None:
        """New rows join the running batch: both sides left-padded to one length."""
        import torch

        self._rows += rows
        if self._cache is None:
            self._cache, self._mask = cache, mask
            return
        width = max(self._mask.shape[1], mask.shape[1])
        for old, new in zip(self._cache.layers, cache.layers, strict=True):
            old.keys = torch.cat([_pad_left(old.keys, width, 2), _pad_left(new.keys, width, 2)])
            old.values = torch.cat([_pad_left(old.values, width, 2),
                                    _pad_left(new.values, width, 2)])
        self._mask = torch.cat([_pad_left(self._mask, width, 1), _pad_left(mask, width, 1)])

    def _sample(self, logits: Any) -> tuple[list[int], list[float]]:
        import torch

        from tsukeku.generation.sampling import RowSamplingLogitsProcessor

        rows = self._rows
        raw = logits.float()
        scores = raw
        if any(r.constraint is not None for r in rows):
            auto = self.composer.automaton()
            sids = [r.constraint.states[0] if r.constraint is not None else auto.ended
                    for r in rows]
            allowed = auto.mask(sids, scores.device)
            if allowed.shape[1] != scores.shape[1]:
                from tsukeku.generation.constraints import _fit

                allowed = _fit(allowed, scores.shape[1])
            scores = scores.masked_fill(~allowed, float("-inf"))
        key = tuple(r.sampling for r in rows)
        if key != self._sampler_key:
            t, k, p = zip(*key, strict=True)
            self._sampler = RowSamplingLogitsProcessor(list(t), list(k), list(p))
            self._sampler_key = key
        scores = self._sampler(None, scores)  # type: ignore[arg-type]
        probs = scores.softmax(-1)
        tokens = torch.empty(len(rows), dtype=torch.long, device=probs.device)
        shared = [i for i, r in enumerate(rows) if r.generator is None]
        if shared:
            idx = torch.tensor(shared, device=probs.device)
            tokens[idx] = torch.multinomial(probs[idx], 1)[:, 0]
        for i, r in enumerate(rows):
            if r.generator is not None:
                tokens[i] = torch.multinomial(probs[i], 1, generator=r.generator)[0]
        lp = torch.log_softmax(raw, -1).gather(1, tokens.unsqueeze(1))[:, 0]
        return tokens.tolist(), lp.tolist()

    # -- after the step -------------------------------------------------------------------------
    def _advance(self, tokens: list[int], logprobs: list[float]) -> None:
        ends = set(self.composer.end_ids())
        marker = self.composer.template.end
        keep: list[int] = []
        for i, (row, token, lp) in enumerate(zip(self._rows, tokens, logprobs, strict=True)):
            row.ids.append(token)
            row.logprob += lp
            if row.constraint is not None:
                row.constraint.advance([token])
            ended = token in ends or len(row.ids) >= row.budget
            if not ended and row.constraint is None and marker and len(marker) > 1:
                ended = marker in self.composer.tokenizer.decode(row.ids)
            if row.job.finished or row.job.cancelled:
                row.job.live -= 1
                continue
            if ended:
                row.job.live -= 1
                self._row_done(row)
                continue
            if row.job.stream and row.slot is not None:
                self._show(row)
            keep.append(i)
        # rows of a job answered later in this loop leave now, not at the next step
        late = [i for i in keep if self._rows[i].job.finished or self._rows[i].job.cancelled]
        for i in late:
            self._rows[i].job.live -= 1
        if late:
            keep = [i for i in keep if i not in set(late)]
        self._last = [tokens[i] for i in keep]
        if len(keep) < len(self._rows):
            self._select(keep)
        self._retire()

    def _retire(self) -> None:
        """Answered and cancelled jobs leave the batch (a cancelled one fails: nobody waits)."""
        for job in [j for j in self._jobs if j.finished or j.cancelled]:
            self._jobs.remove(job)
            self._fail(job, TimeoutError("the request was cancelled"))

    def _select(self, keep: list[int]) -> None:
        import torch

        self._rows = [self._rows[i] for i in keep]
        if not keep:
            self._cache = self._mask = None
            return
        index = torch.tensor(keep, device=self._mask.device)
        self._cache.batch_select_indices(index)
        self._mask = self._mask[index]
        # columns no remaining row attends to (left padding of rows that left) go too
        used = self._mask.any(0).nonzero()
        first = int(used[0]) if len(used) else 0
        if first > 0:
            self._mask = self._mask[:, first:]
            for layer in self._cache.layers:
                layer.keys = layer.keys[:, :, first:]
                layer.values = layer.values[:, :, first:]

    def _drop_cancelled(self) -> None:
        keep = [i for i, r in enumerate(self._rows) if not (r.job.cancelled or r.job.finished)]
        for r in self._rows:
            if r.job.cancelled or r.job.finished:
                r.job.live -= 1
        if len(keep) < len(self._rows):
            self._last = [self._last[i] for i in keep]
            self._select(keep)
        self._retire()

    def _row_done(self, row: Row) -> None:
        job, plan = row.job, row.job.plan
        assert plan is not None
        finished = True
        resyncs = rejected = 0
        if row.constraint is not None:
            finished = row.constraint.complete()[0]
            resyncs, rejected = row.constraint.resyncs[0], row.constraint.rejected[0]
        checked = self.composer.take(plan, row.ids, row.logprob, finished=finished,
                                     resyncs=resyncs, rejected=rejected)
        text = checked.candidate.text
        if job.stream:
            self._settle_slot(job, row, text if checked.acceptable or not job.constrained
                              else None)
            if job.constrained and not self._free_slots(job):
                self._complete(job)
            return
        if plan.meter is not None and plan.distinct_ok() >= plan.request.n:
            self._complete(job)

    # -- streaming slots ------------------------------------------------------------------------
    def _free_slots(self, job: Job) -> int:
        return job.request.n - len(job.slot_text)

    def _fill_from_reserve(self, job: Job) -> None:
        for slot in range(job.request.n):
            if slot in job.slot_text or slot in job.slots:
                continue
            taken = set(job.slot_text.values())
            while job.reserve:
                text = job.reserve.pop(0)
                if text not in taken:
                    job.slot_text[slot] = text
                    job.emit("restart", (slot, text))
                    job.emit("slot", (slot, text))
                    break

    def _bind(self, job: Job, row: Row) -> None:
        """Gives `row` the lowest candidate slot that no row follows and none has filled."""
        for slot in range(job.request.n):
            if slot not in job.slots and slot not in job.slot_text:
                job.slots[slot] = row
                row.slot = slot
                return

    def _show(self, row: Row) -> None:
        text = self.composer.tokenizer.decode(row.ids, skip_special_tokens=True).lstrip()
        if text.endswith("\ufffd"):  # a character still split across byte pieces
            return
        if text.startswith(row.shown):
            delta = text[len(row.shown):]
            if delta:
                row.job.emit("delta", (row.slot, delta))
        else:
            row.job.emit("restart", (row.slot, text))
        row.shown = text

    def _settle_slot(self, job: Job, row: Row, accepted: str | None) -> None:
        taken = set(job.slot_text.values())
        ok = accepted is not None and (not job.constrained or accepted not in taken)
        slot = row.slot
        if slot is None:  # a spare row: kept for a slot whose row fails
            if ok and accepted not in job.reserve:
                job.reserve.append(accepted)  # type: ignore[arg-type]
            return
        del job.slots[slot]
        if ok:
            assert accepted is not None
            job.slot_text[slot] = accepted
            # what was streamed becomes exactly the candidate's text
            if accepted.startswith(row.shown):
                if len(accepted) > len(row.shown):
                    job.emit("delta", (slot, accepted[len(row.shown):]))
            else:
                job.emit("restart", (slot, accepted))
            job.emit("slot", (slot, accepted))
            return
        # the row failed the form check (or repeats a slot): another row takes the slot over
        while job.reserve:
            text = job.reserve.pop(0)
            if text not in taken:
                job.slot_text[slot] = text
                job.emit("restart", (slot, text))
                job.emit("slot", (slot, text))
                return
        for other in self._rows:
            if other.job is job and other.slot is None and other is not row:
                job.slots[slot] = other
                other.slot = slot
                other.shown = ""
                job.emit("restart", (slot, ""))
                self._show(other)
                return
        job.emit("restart", (slot, ""))

    # -- answers --------------------------------------------------------------------------------
    def _complete(self, job: Job) -> None:
        plan = job.plan
        assert plan is not None
        if job.stream and plan.meter is not None:
            # what was streamed is what is returned: the slots' texts, ranked
            chosen = set(job.slot_text.values())
            plan.checked = [c for c in plan.checked
                            if c.acceptable and c.candidate.text in chosen]
        elapsed = (time.perf_counter() - job.submitted) * 1000
        result = self.composer._result(plan, 1, elapsed)
        result.notes.append(f"continuous batching: {job.rows_started} row(s) decoded with "
                            "other requests' rows")
        self._finish(job, result)

    def _finish(self, job: Job, result: CompositionResult) -> None:
        if job.finished:
            return
        job.finished = True
        job.result = result
        job._done.set()
        job.emit("done", result)

    def _fail(self, job: Job, err: BaseException) -> None:
        if job.finished:
            return
        job.finished = True
        job.error = err
        job._done.set()
        job.emit("error", err)


def _cache_of(out: Any) -> Any:
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


def _pad_left(t: Any, width: int, dim: int) -> Any:
    import torch.nn.functional as F  # noqa: N812

    short = width - t.shape[dim]
    if short <= 0:
        return t
    pads = [0, 0] * (t.dim() - 1 - dim) + [short, 0]
    return F.pad(t, pads)

