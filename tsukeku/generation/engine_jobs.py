"""The records of the continuous-batching engine (`tsukeku.generation.engine`): a `Job` per
request, a `Row` per sampled candidate, and a streamed job's candidate slots (which row a slot
follows, the texts settled so far, spare texts kept for a slot whose row fails)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tsukeku.generation.composer import Plan
from tsukeku.generation.types import ComposeRequest, CompositionResult

log = logging.getLogger("tsukeku.generation.engine")

Event = tuple[str, Any]  # ("delta"|"restart"|"slot", (slot, text)) | ("done", result) | ("error", exc)
Listener = Callable[[Event], None]


@dataclass
class Job:
    """One request in the engine. `stream`: candidate slots 0..n-1 follow rows as they are
    decoded (see `tsukeku.generation.engine` and docs/serving.md). `finished`: answered or
    failed (`wait` then returns at once)."""

    request: ComposeRequest
    listener: Listener | None = None
    stream: bool = False
    plan: Plan | None = None
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

    def finish(self, result: CompositionResult) -> None:
        if self.finished:
            return
        self.finished = True
        self.result = result
        self._done.set()
        self.emit("done", result)

    def fail(self, err: BaseException) -> None:
        if self.finished:
            return
        self.finished = True
        self.error = err
        self._done.set()
        self.emit("error", err)

    # -- streaming slots ------------------------------------------------------------------------
    def free_slots(self) -> int:
        return self.request.n - len(self.slot_text)

    def fill_from_reserve(self) -> None:
        for slot in range(self.request.n):
            if slot in self.slot_text or slot in self.slots:
                continue
            taken = set(self.slot_text.values())
            while self.reserve:
                text = self.reserve.pop(0)
                if text not in taken:
                    self.slot_text[slot] = text
                    self.emit("restart", (slot, text))
                    self.emit("slot", (slot, text))
                    break

    def bind(self, row: Row) -> None:
        """Gives `row` the lowest candidate slot that no row follows and none has filled."""
        for slot in range(self.request.n):
            if slot not in self.slots and slot not in self.slot_text:
                self.slots[slot] = row
                row.slot = slot
                return

    def settle_slot(self, row: Row, accepted: str | None, running: list[Row],
                    tokenizer: Any) -> None:
        """`row` ended with `accepted` (None: it failed the form check); a failed slot goes to
        a reserved text, else to a spare row of `running`, else waits for a new row."""
        taken = set(self.slot_text.values())
        ok = accepted is not None and (not self.constrained or accepted not in taken)
        slot = row.slot
        if slot is None:  # a spare row: kept for a slot whose row fails
            if ok and accepted not in self.reserve:
                self.reserve.append(accepted)  # type: ignore[arg-type]
            return
        del self.slots[slot]
        if ok:
            assert accepted is not None
            self.slot_text[slot] = accepted
            # what was streamed becomes exactly the candidate's text
            if accepted.startswith(row.shown):
                if len(accepted) > len(row.shown):
                    self.emit("delta", (slot, accepted[len(row.shown):]))
            else:
                self.emit("restart", (slot, accepted))
            self.emit("slot", (slot, accepted))
            return
        # the row failed the form check (or repeats a slot): another row takes the slot over
        while self.reserve:
            text = self.reserve.pop(0)
            if text not in taken:
                self.slot_text[slot] = text
                self.emit("restart", (slot, text))
                self.emit("slot", (slot, text))
                return
        for other in running:
            if other.job is self and other.slot is None and other is not row:
                self.slots[slot] = other
                other.slot = slot
                other.shown = ""
                self.emit("restart", (slot, ""))
                other.show(tokenizer)
                return
        self.emit("restart", (slot, ""))


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

    def show(self, tokenizer: Any) -> None:
        """Streams what the row's slot gained since the last step."""
        text = tokenizer.decode(self.ids, skip_special_tokens=True).lstrip()
        if text.endswith("\ufffd"):  # a character still split across byte pieces
            return
        if text.startswith(self.shown):
            delta = text[len(self.shown):]
            if delta:
                self.job.emit("delta", (self.slot, delta))
        else:
            self.job.emit("restart", (self.slot, text))
        self.shown = text
