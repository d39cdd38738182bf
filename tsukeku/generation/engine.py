"""Continuous batching: one step-level decode loop per local model, as vLLM and TGI do.

A background thread holds a running batch of rows (one row = one sampled candidate) with its
KV cache (a transformers `DynamicCache`, rows left-padded to a common length). Between two
decode steps, new requests are planned (`Composer.plan`: prompt, form, budget), their
distinct prompts are prefilled once and copied to their rows, and those rows are merged into
the running batch; rows whose candidate is finished (end token, budget, or a dead end of the
mora automaton) leave it, and the cache loses the columns no remaining row needs. A request is
answered as soon as it holds `n` distinct candidates that pass the form check, so the rest of
its rows stop early; when its rows are spent without that, more rows join in the next round
(the same rounds as `Composer.compose_many`).

Here: the loop thread, admission, the rows each request decodes and its answer; the running
batch and its KV cache are `running_batch.RunningBatch`, the job and row records (with a
streamed job's candidate slots) are `engine_jobs`.

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

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable

from tsukeku.errors import Unavailable
from tsukeku.generation.composer import MAX_ROWS, Composer, _device
from tsukeku.generation.engine_jobs import Event, Job, Listener, Row
from tsukeku.generation.loaded_model import BASE_ADAPTER
from tsukeku.generation.running_batch import RunningBatch
from tsukeku.generation.types import ComposeRequest, CompositionResult

__all__ = ["ContinuousEngine", "Event", "Job", "Listener", "Row"]

log = logging.getLogger("tsukeku.generation.engine")


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
        # seconds in the model's forwards (decode, prefill, merge into the cache): what no
        # scheduling removes, against the step time around it
        self.model_seconds = 0.0
        self._waiting: deque[Job] = deque()
        self._jobs: list[Job] = []  # admitted, not finished
        self._batch = RunningBatch(composer)
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
                while not (self._stop or self._waiting or self._batch.rows or self._jobs):
                    self._cv.wait()
                if self._stop:
                    break
                admitted = self._admit_locked()
            try:
                self._step(admitted)
            except Exception as err:  # a bug or a backend failure: fail the batch, keep serving
                log.error("engine step failed", exc_info=True)
                for job in [*self._jobs, *admitted]:
                    job.fail(err)
                self._reset()
        self._shutdown()

    def _admit_locked(self) -> list[Job]:
        """Waiting jobs that fit into the running batch now (the lock is held)."""
        admitted: list[Job] = []
        while self._waiting and len(self._jobs) + len(admitted) < self.max_requests:
            job = self._waiting[0]
            if job.cancelled:
                self._waiting.popleft()
                job.fail(TimeoutError("the request was cancelled"))
                continue
            self._waiting.popleft()
            admitted.append(job)
        return admitted

    def _shutdown(self) -> None:
        err = Unavailable("the server is shutting down; retry")
        for job in [*self._jobs, *self._waiting]:
            job.fail(err)
        self._waiting.clear()
        self._reset()

    def _reset(self) -> None:
        self._jobs = []
        self._batch.reset()

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
        if not self._batch.rows and not new_rows:
            return
        loaded = self.composer.loaded
        with loaded.lock, torch.inference_mode():
            forward = time.perf_counter()
            logits_run = self._batch.decode() if self._batch.rows else None
            if new_rows:
                logits_new, cache, mask, row_of = self._batch.prefill(new_rows)
                self._batch.merge(new_rows, cache, mask, row_of)
                logits = logits_new if logits_run is None else torch.cat([logits_run, logits_new])
            else:
                logits = logits_run
            self.model_seconds += time.perf_counter() - forward
            tokens, logprobs = self._batch.sample(logits)
        decoded = len({id(r.job) for r in self._batch.rows}), len(self._batch.rows)
        self._advance(tokens, logprobs)
        self.steps += 1
        self.request_steps += decoded[0]
        if self.on_step is not None:
            self.on_step(joined, *decoded, time.perf_counter() - started)

    def _start(self, job: Job) -> list[Row]:
        """Plans a new job; returns its first rows (none when the composer answers it whole)."""
        try:
            request = self.route(job.request)
            plan = self.composer.plan(request)
            if plan.job is not None or not self._mixable(plan.adapter):
                # seat forcing, or an adapter PEFT cannot mix with the running rows: the
                # composer's own batch answers it between two steps
                result = self.composer.compose_many([request])[0]
                job.finish(result)
                return []
        except Exception as err:
            job.fail(err)
            return []
        job.plan = plan
        self._jobs.append(job)
        return self._top_up(job)

    def _mixable(self, adapter: str | None) -> bool:
        loaded = self.composer.loaded
        if not loaded.is_peft:
            return True
        names = {adapter or BASE_ADAPTER} | {r.adapter or BASE_ADAPTER for r in self._batch.rows}
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
                job.fill_from_reserve()
                missing = job.free_slots()
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
                job.bind(row)
        return rows

    # -- after the step -------------------------------------------------------------------------
    def _advance(self, tokens: list[int], logprobs: list[float]) -> None:
        ends = set(self.composer.end_ids())
        marker = self.composer.template.end
        keep: list[int] = []
        for i, (row, token, lp) in enumerate(zip(self._batch.rows, tokens, logprobs, strict=True)):
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
                row.show(self.composer.tokenizer)
            keep.append(i)
        # rows of a job answered later in this loop leave now, not at the next step
        rows = self._batch.rows
        late = [i for i in keep if rows[i].job.finished or rows[i].job.cancelled]
        for i in late:
            rows[i].job.live -= 1
        if late:
            keep = [i for i in keep if i not in set(late)]
        self._batch.last = tokens
        if len(keep) < len(self._batch.rows):
            self._batch.select(keep)
        self._retire()

    def _retire(self) -> None:
        """Answered and cancelled jobs leave the batch (a cancelled one fails: nobody waits)."""
        for job in [j for j in self._jobs if j.finished or j.cancelled]:
            self._jobs.remove(job)
            job.fail(TimeoutError("the request was cancelled"))

    def _drop_cancelled(self) -> None:
        keep = [i for i, r in enumerate(self._batch.rows) if not (r.job.cancelled or r.job.finished)]
        for r in self._batch.rows:
            if r.job.cancelled or r.job.finished:
                r.job.live -= 1
        if len(keep) < len(self._batch.rows):
            self._batch.select(keep)
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
            job.settle_slot(row, text if checked.acceptable or not job.constrained else None,
                            self._batch.rows, self.composer.tokenizer)
            if job.constrained and not job.free_slots():
                self._complete(job)
            return
        if plan.meter is not None and plan.distinct_ok() >= plan.request.n:
            self._complete(job)

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
        job.finish(result)

