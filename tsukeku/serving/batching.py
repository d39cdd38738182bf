"""Batching of concurrent requests for one model: continuous batching (`ContinuousBatcher`,
the default for local models: requests join and leave a running batch between decode steps,
see `tsukeku.generation.engine`) or fixed windows (`MicroBatcher`, below; `--batching window`,
and every remote or non-composer backend).

Fixed windows: concurrent requests for one model become one `compose_many` call.

A batch is gathered for `window_s`, counted from when its first request arrived or from when
the model became free, whichever is later; what arrives for the same model before the window
closes (up to `max_batch` requests) is answered by a single backend call, which runs in the
batcher's own worker thread so that generation never blocks the event loop. One batch runs at a
time per local model (`concurrency=1`: one model, one generate at a time); requests arriving
meanwhile form the next batch, joined by the clients whose answers just went out and who come
straight back (counting the window from the end of the previous batch keeps a steady load from
splitting into half-full batches that alternate). With batching off, every request is its own
`compose` call (the reference the benchmark compares against). Remote backends are served
unbatched with several calls in flight (`concurrency>1`): their service batches on its side.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from tsukeku.errors import QueueFull, Unavailable
from tsukeku.generation.types import Backend, ComposeRequest, CompositionResult
from tsukeku.serving.metrics import Metrics

log = logging.getLogger("tsukeku.serving.batching")


@dataclass
class _Pending:
    request: ComposeRequest
    future: asyncio.Future[CompositionResult]
    enqueued: float
    request_id: str | None = None
    started: float | None = field(default=None)


class _Queued:
    """What both batchers share: the bounded wait queue and its gauge."""

    name: str
    queue_size: int
    retry_after_s: int
    metrics: Metrics | None

    @property
    def depth(self) -> int:
        raise NotImplementedError

    def _check_room(self) -> None:
        if self.depth >= self.queue_size:
            raise QueueFull(
                f"model {self.name!r} has {self.queue_size} requests waiting; retry after "
                f"{self.retry_after_s} s",
                retry_after_s=self.retry_after_s,
            )

    def _set_depth(self) -> None:
        if self.metrics is not None:
            self.metrics.queue_depth.labels(self.name).set(self.depth)


class MicroBatcher(_Queued):
    mode = "window"

    def __init__(
        self,
        name: str,
        backend: Backend,
        *,
        batching: bool = True,
        max_batch: int = 8,
        window_s: float = 0.01,
        queue_size: int = 64,
        metrics: Metrics | None = None,
        retry_after_s: int = 1,
        concurrency: int = 1,
    ) -> None:
        self.name = name
        self.backend = backend
        self.batching = batching
        self.max_batch = max_batch if batching else 1
        self.window_s = window_s if batching else 0.0
        self.queue_size = queue_size
        self.metrics = metrics
        self.retry_after_s = retry_after_s
        self.concurrency = concurrency
        self._pending: deque[_Pending] = deque()
        self._running: dict[int, list[_Pending]] = {}  # runner → the batch it is answering
        self._free_since: dict[int, float] = {}  # runner → when its last batch ended
        self._wakeup: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._executor = ThreadPoolExecutor(max_workers=concurrency,
                                            thread_name_prefix=f"tsukeku-{name}")

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Starts the batching loop on the running event loop."""
        self._wakeup = asyncio.Event()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._run(i), name=f"tsukeku-batcher-{self.name}-{i}")
            for i in range(self.concurrency)
        ]

    async def stop(self) -> None:
        """Stops the loop; requests still waiting are answered 503 (shutdown waits for in-flight
        HTTP requests before it gets here, so normally there are none)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks = []
        running = [item for batch in self._running.values() for item in batch]
        for item in [*running, *self._pending]:
            if not item.future.done():
                item.future.set_exception(Unavailable("the server is shutting down; retry"))
        self._pending.clear()
        self._running = {}
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._set_depth()

    # -- submitting --------------------------------------------------------------------------
    @property
    def depth(self) -> int:
        """Requests waiting for a backend call (not counting the batch being generated)."""
        return sum(1 for p in self._pending if not p.future.done())

    @property
    def running(self) -> int:
        """Requests being answered now."""
        return sum(len(batch) for batch in self._running.values())

    def submit(
        self, request: ComposeRequest, request_id: str | None = None
    ) -> asyncio.Future[CompositionResult]:
        """Queues one request; the future resolves with its result. Raises QueueFull when
        `queue_size` requests are already waiting."""
        if not self._tasks or self._wakeup is None:
            raise Unavailable(f"model {self.name!r} is not started")
        self._check_room()
        loop = asyncio.get_running_loop()
        item = _Pending(request, loop.create_future(), loop.time(), request_id)
        self._pending.append(item)
        self._set_depth()
        self._wakeup.set()
        return item.future

    # -- the loop ----------------------------------------------------------------------------
    async def _run(self, runner: int) -> None:
        assert self._wakeup is not None
        while True:
            self._drop_abandoned()
            if not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = await self._gather(runner)
            if batch:
                await self._execute(runner, batch)
                self._free_since[runner] = asyncio.get_running_loop().time()

    def _drop_abandoned(self) -> None:
        # A request that timed out (or whose client went away) cancelled its future: skip it.
        if any(p.future.done() for p in self._pending):
            self._pending = deque(p for p in self._pending if not p.future.done())
            self._set_depth()

    async def _gather(self, runner: int = 0) -> list[_Pending]:
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        if self.max_batch > 1 and self.window_s > 0:
            opened = max(self._pending[0].enqueued, self._free_since.get(runner, 0.0))
            deadline = opened + self.window_s
            while self.depth < self.max_batch:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), remaining)
                except TimeoutError:
                    break
        batch: list[_Pending] = []
        while self._pending and len(batch) < self.max_batch:
            item = self._pending.popleft()
            if not item.future.done():
                batch.append(item)
        self._set_depth()
        return batch

    async def _execute(self, runner: int, batch: list[_Pending]) -> None:
        loop = asyncio.get_running_loop()
        self._running[runner] = batch
        requests = [p.request for p in batch]
        started = time.perf_counter()
        try:
            if self.batching:
                results = await loop.run_in_executor(
                    self._executor, self.backend.compose_many, requests
                )
                if len(results) != len(requests):
                    raise RuntimeError(
                        f"backend {self.name!r} answered {len(results)} results for "
                        f"{len(requests)} requests"
                    )
            else:
                results = [
                    await loop.run_in_executor(self._executor, self.backend.compose, requests[0])
                ]
        except asyncio.CancelledError:
            raise
        except Exception as err:
            if len(batch) == 1:
                self._settle(batch[0], error=err)
            else:
                # One bad request must not fail its neighbours: answer each on its own.
                log.warning(
                    "batch failed, answering its requests one by one",
                    extra={"model": self.name, "batch": len(batch), "error": repr(err)},
                )
                await self._execute_one_by_one(batch)
        else:
            for item, result in zip(batch, results, strict=True):
                self._settle(item, result=result)
        finally:
            self._running.pop(runner, None)
        self._record(len(batch), time.perf_counter() - started)

    async def _execute_one_by_one(self, batch: list[_Pending]) -> None:
        loop = asyncio.get_running_loop()
        for item in batch:
            if item.future.done():
                continue
            try:
                result = await loop.run_in_executor(
                    self._executor, self.backend.compose, item.request
                )
            except asyncio.CancelledError:
                raise
            except Exception as err:
                self._settle(item, error=err)
            else:
                self._settle(item, result=result)

    @staticmethod
    def _settle(
        item: _Pending, *, result: CompositionResult | None = None, error: BaseException | None = None
    ) -> None:
        if item.future.done():  # timed out meanwhile: nobody is waiting for this answer
            return
        if error is not None:
            item.future.set_exception(error)
        else:
            item.future.set_result(result)  # type: ignore[arg-type]

    def _record(self, size: int, seconds: float) -> None:
        if self.metrics is None:
            return
        self.metrics.batch_size.labels(self.name).observe(size)
        self.metrics.batches.labels(self.name).inc()
        self.metrics.batch_seconds.labels(self.name).observe(seconds)


class ContinuousBatcher(_Queued):
    """Continuous batching for a local model (`tsukeku.generation.engine.ContinuousEngine`):
    requests join the running batch between decode steps and leave it when answered; no window.
    Same interface as `MicroBatcher`, plus `stream` (token deltas as they are decoded)."""

    batching = True
    mode = "continuous"

    def __init__(self, name: str, backend: Backend, *, max_batch: int = 16, queue_size: int = 64,
                 metrics: Metrics | None = None, retry_after_s: int = 1) -> None:
        from tsukeku.generation.engine import ContinuousEngine

        self.name = name
        self.backend = backend
        self.max_batch = max_batch
        self.queue_size = queue_size
        self.metrics = metrics
        self.retry_after_s = retry_after_s
        route = getattr(backend, "_route", None)
        self.engine = ContinuousEngine(backend.composer, route=route,  # type: ignore[attr-defined]
                                       max_requests=max_batch, name=name, on_step=self._record)

    @staticmethod
    def supports(backend: Backend) -> bool:
        """Local models with a composer (`LocalHFBackend`); others keep fixed windows."""
        from tsukeku.generation.composer import Composer

        return isinstance(getattr(backend, "composer", None), Composer)

    def start(self) -> None:
        self.engine.start()

    async def stop(self) -> None:
        await asyncio.to_thread(self.engine.stop)
        self._set_depth()

    @property
    def depth(self) -> int:
        return self.engine.waiting

    @property
    def running(self) -> int:
        return self.engine.running

    def submit(self, request: ComposeRequest, request_id: str | None = None
               ) -> asyncio.Future[CompositionResult]:
        """Queues one request; the future resolves with its result (cancelling the future
        takes the request's rows out of the running batch)."""
        self._check_room()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[CompositionResult] = loop.create_future()

        def settle(event: tuple[str, object]) -> None:
            kind, payload = event
            if kind == "done":
                loop.call_soon_threadsafe(_resolve, future, payload, None)
            elif kind == "error":
                loop.call_soon_threadsafe(_resolve, future, None, payload)

        job = self.engine.submit(request, settle)
        future.add_done_callback(lambda f: job.cancel() if f.cancelled() else None)
        self._set_depth()
        return future

    def stream(self, request: ComposeRequest, request_id: str | None = None
               ) -> tuple[asyncio.Queue[tuple[str, object]], object]:
        """Queues one streamed request: (events queue, the engine job — cancel it when the
        client goes away). Events: ("delta"|"restart"|"slot", (slot, text)), then ("done",
        result) or ("error", exception)."""
        self._check_room()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
        job = self.engine.submit(request, lambda e: loop.call_soon_threadsafe(queue.put_nowait, e),
                                 stream=True)
        self._set_depth()
        return queue, job

    def _record(self, joined: int, requests: int, rows: int, seconds: float) -> None:
        if self.metrics is None or not joined:
            return
        # a step that prefills newcomers is the call that starts them: each request is counted
        # once, as with windows; the running batch per step is in /health (engine figures)
        self.metrics.batch_size.labels(self.name).observe(joined)
        self.metrics.batches.labels(self.name).inc()
        self.metrics.batch_seconds.labels(self.name).observe(seconds)
        self.metrics.queue_depth.labels(self.name).set(self.depth)

    def figures(self) -> dict[str, float]:
        """The running batch: decode steps so far and requests decoded per step."""
        steps = self.engine.steps
        return {"decode_steps": steps,
                "mean_requests_per_step": round(self.engine.request_steps / steps, 3)
                if steps else 0.0}


def _resolve(future: asyncio.Future[CompositionResult], result: object,
             error: object) -> None:
    if future.done():  # timed out meanwhile: nobody is waiting for this answer
        return
    if isinstance(error, BaseException):
        future.set_exception(error)
    else:
        future.set_result(result)  # type: ignore[arg-type]
