"""The composition engine behind every route: model registry, one micro-batcher per model,
time-outs, queue limits, loading and draining state.

`ComposeService.compose(model_name, ComposeRequest)` is the call the API, UI and arena routes
share (they get the service through `tsukeku.serving.deps.get_service`; see
docs/architecture.md). The engine speaks no HTTP: it raises the project's own errors
(`tsukeku.errors`), and `tsukeku.serving.errors` maps them to status codes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from tsukeku.errors import (
    GenerationTimeout,
    QueueFull,
    TsukekuError,
    Unavailable,
    UnknownModel,
)
from tsukeku.generation.types import Backend, ComposeRequest, CompositionResult
from tsukeku.serving.batching import ContinuousBatcher, MicroBatcher
from tsukeku.serving.logs import request_id_var
from tsukeku.serving.metrics import Metrics
from tsukeku.serving.settings import ServeSettings

log = logging.getLogger("tsukeku.serving")


@runtime_checkable
class Registry(Protocol):
    """What `tsukeku.backends.load_models_file` returns: names → backends."""

    def names(self) -> list[str]: ...

    def get(self, name: str) -> Backend: ...


class _DictRegistry:
    def __init__(self, backends: Mapping[str, Backend]) -> None:
        self._backends = dict(backends)

    def names(self) -> list[str]:
        return list(self._backends)

    def get(self, name: str) -> Backend:
        return self._backends[name]


RegistrySource = Registry | Mapping[str, Backend] | Callable[[], Any]


def as_registry(source: Registry | Mapping[str, Backend]) -> Registry:
    if isinstance(source, Registry):
        return source
    if isinstance(source, Mapping):
        return _DictRegistry(source)
    raise TypeError(f"not a model registry: {source!r}")


def is_remote(backend: Backend) -> bool:
    """Remote services (OpenAI-compatible, SageMaker, Bedrock) batch on their side: we send
    their requests one by one, several at a time, instead of batching them."""
    from tsukeku.backends.base import RemoteBackend

    return isinstance(backend, RemoteBackend)


WARM_UP_VERSE = "春の野に 若菜を摘めば 雪とけて"  # written for the warm-up, not from a corpus


def warm_up(name: str, backend: Backend) -> None:
    """One small composition on a local model, so that one-off work (token tables, kernels)
    is done before /ping says ready. Remote backends are left alone (a call costs money and
    may need a network the server does not have)."""
    if not getattr(backend, "supports_constraints", False):
        return
    started = time.perf_counter()
    try:
        backend.compose(ComposeRequest(previous=WARM_UP_VERSE, n=1, max_new_tokens=24))
    except Exception:  # the model loaded; a request will report what is wrong
        log.warning("warm-up failed", extra={"model": name}, exc_info=True)
        return
    log.info("warmed up", extra={"model": name,
                                 "seconds": round(time.perf_counter() - started, 3)})


class ComposeService:
    def __init__(self, settings: ServeSettings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.registry: Registry | None = None
        self.state = "loading"  # loading → ready | failed; ready → draining
        self.load_error: str | None = None
        self.started_at = time.time()
        self.in_flight = 0
        self._batchers: dict[str, MicroBatcher | ContinuousBatcher] = {}
        self._idle = asyncio.Event()
        self._idle.set()

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self.state == "ready"

    def attach(self, source: Registry | Mapping[str, Backend],
               backends: Mapping[str, Backend] | None = None) -> None:
        """Starts serving the registry's models (on the running event loop). `backends`, when
        given, are the registry's models already built (see `load`)."""
        registry = as_registry(source)
        names = list(registry.names())
        if not names:
            raise TsukekuError("the model registry is empty; name at least one model")
        batchers = {}
        for name in names:
            backend = backends[name] if backends is not None else registry.get(name)
            remote = is_remote(backend)
            batcher: MicroBatcher | ContinuousBatcher
            if (self.settings.batching and self.settings.batching_mode == "continuous"
                    and not remote and ContinuousBatcher.supports(backend)):
                batcher = ContinuousBatcher(
                    name, backend, max_batch=self.settings.max_batch,
                    queue_size=self.settings.queue_size, metrics=self.metrics,
                    retry_after_s=self.settings.retry_after_s)
                batcher.start()
                batchers[name] = batcher
                continue
            batcher = MicroBatcher(
                name,
                backend,
                batching=self.settings.batching and not remote,
                max_batch=self.settings.max_batch,
                window_s=self.settings.batch_window_ms / 1000,
                queue_size=self.settings.queue_size,
                metrics=self.metrics,
                retry_after_s=self.settings.retry_after_s,
                concurrency=self.settings.remote_concurrency if remote else 1,
            )
            batcher.start()
            batchers[name] = batcher
        self._batchers = batchers
        self.registry = registry
        if self.state == "loading":
            self.state = "ready"
        self.metrics.models_loaded.set(len(names))
        log.info("models ready", extra={"models": names})

    async def load(self, source: Registry | Callable[[], Any]) -> None:
        """Builds the registry and every model in it in a worker thread (loading weights is
        slow), warms local models up, then attaches them; /ping answers 503 until then."""

        def build() -> tuple[Registry, dict[str, Backend]]:
            made = source if isinstance(source, Registry) else source()
            registry = as_registry(made)
            backends = {name: registry.get(name) for name in registry.names()}
            if self.settings.warmup:
                for name, backend in backends.items():
                    warm_up(name, backend)
            return registry, backends

        try:
            registry, backends = await asyncio.to_thread(build)
            self.attach(registry, backends)
        except Exception as err:  # reported by /health and /ping; the server stays up
            self.state = "failed"
            self.load_error = f"{type(err).__name__}: {err}"
            log.error("loading the models failed", exc_info=True)

    def begin_drain(self) -> None:
        """New requests get 503 from now on; those in flight finish."""
        if self.state != "draining":
            self.state = "draining"
            log.info("draining", extra={"in_flight": self.in_flight})

    async def wait_idle(self, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def close(self) -> None:
        for batcher in self._batchers.values():
            await batcher.stop()

    # -- models ------------------------------------------------------------------------------
    def model_names(self) -> list[str]:
        return list(self._batchers)

    def default_model(self) -> str:
        """--default-model, else the registry's own default (models file `default:`), else
        the first model."""
        for wanted in (self.settings.default_model, getattr(self.registry, "default", None)):
            if isinstance(wanted, str) and wanted in self._batchers:
                return wanted
        return self.model_names()[0]

    def backend(self, name: str) -> Backend:
        return self._batchers[self.resolve_model(name)].backend

    def resolve_model(self, name: str | None) -> str:
        self._check_available()
        if name is None or name == "":
            return self.default_model()
        if name not in self._batchers:
            known = ", ".join(self.model_names())
            raise UnknownModel(f"unknown model {name!r}; this server has: {known}")
        return name

    def _check_available(self) -> None:
        # Draining is enforced at the door (DrainMiddleware): a request already let in finishes.
        if self._batchers:
            return
        if self.state == "failed":
            raise Unavailable(f"the models failed to load: {self.load_error}")
        raise Unavailable("the models are still loading; retry shortly",
                          retry_after_s=self.settings.retry_after_s)

    def queue_depths(self) -> dict[str, dict[str, int]]:
        return {
            name: {"waiting": b.depth, "running": b.running}
            for name, b in self._batchers.items()
        }

    # -- composing ---------------------------------------------------------------------------
    async def compose(self, model_name: str | None, request: ComposeRequest) -> CompositionResult:
        """Answers one request (valid by construction: ComposeRequest holds the limits) through
        its model's batcher. Raises UnknownModel, Unavailable, QueueFull, GenerationTimeout,
        BackendError (a remote service failed) or another TsukekuError (input the backend
        refused)."""
        from tsukeku.backends.base import BackendError

        name = self.resolve_model(model_name)
        started = time.perf_counter()
        self._enter()
        try:
            future = self._batchers[name].submit(request, request_id_var.get())
            result = await asyncio.wait_for(future, self.settings.timeout_s)
        except QueueFull:
            self._count(name, "queue_full")
            raise
        except TimeoutError:
            raise self._timed_out(name) from None
        except Unavailable:  # shutting down under the request
            self._count(name, "error")
            raise
        except BackendError:  # the remote service failed, not the request
            self._count(name, "upstream_error")
            raise
        except TsukekuError:
            self._count(name, "invalid")  # bad input found by the backend (unreadable text …)
            raise
        except Exception:
            self._count(name, "error")
            raise
        finally:
            self._leave()
        self._count(name, "ok")
        result.latency_ms = round((time.perf_counter() - started) * 1000, 3)
        return result

    async def compose_stream(self, model_name: str | None, request: ComposeRequest
                             ) -> AsyncIterator[tuple[str, Any]]:
        """The events of one request as it is decoded: ("delta", (slot, text)) for text added
        to candidate slot `slot`, ("restart", (slot, text)) when a slot's text is replaced
        (its row failed the form check and another took over), ("slot", (slot, text)) when a
        slot holds its final candidate, and last ("done", result). Models served without
        continuous batching answer whole candidates (one delta per slot). Raises what
        `compose` raises; a caller that stops iterating cancels the request."""
        name = self.resolve_model(model_name)
        batcher = self._batchers[name]
        if not isinstance(batcher, ContinuousBatcher):
            result = await self.compose(name, request)
            for i, cand in enumerate(result.candidates):
                yield "delta", (i, cand.text)
                yield "slot", (i, cand.text)
            yield "done", result
            return
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.timeout_s
        self._enter()
        job: Any = None
        try:
            try:
                queue, job = batcher.stream(request, request_id_var.get())
            except QueueFull:
                self._count(name, "queue_full")
                raise
            while True:
                try:
                    kind, payload = await asyncio.wait_for(queue.get(), deadline - loop.time())
                except TimeoutError:
                    raise self._timed_out(name) from None
                if kind == "error":
                    assert isinstance(payload, BaseException)
                    self._count(name, "invalid" if isinstance(payload, TsukekuError) else "error")
                    raise payload
                if kind == "done":
                    self._count(name, "ok")
                    payload.latency_ms = round((time.perf_counter() - started) * 1000, 3)
                    yield kind, payload
                    return
                yield kind, payload
        finally:
            if job is not None and not job.finished:
                job.cancel()
            self._leave()

    def _count(self, name: str, outcome: str) -> None:
        self.metrics.compositions.labels(name, outcome).inc()

    def _timed_out(self, name: str) -> GenerationTimeout:
        self._count(name, "timeout")
        return GenerationTimeout(
            f"generation took longer than {self.settings.timeout_s:g} s; ask for fewer "
            "candidates (n) or fewer tokens, or retry")

    def _enter(self) -> None:
        self.in_flight += 1
        self._idle.clear()

    def _leave(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()

    def health(self) -> dict[str, Any]:
        models = []
        for name, b in self._batchers.items():
            models.append({
                "name": name,
                "backend": type(b.backend).__name__,
                "supports_constraints": bool(getattr(b.backend, "supports_constraints", False)),
                "batching": b.batching,
                "batching_mode": b.mode if b.batching else "off",
                "queue": b.depth,
                "running": b.running,
                **(b.figures() if isinstance(b, ContinuousBatcher) else {}),
            })
        return {
            "status": self.state,
            "loaded": self.ready or self.state == "draining",
            "error": self.load_error,
            "models": models,
            "default_model": self.default_model() if self._batchers else None,
            "queue": sum(b.depth for b in self._batchers.values()),
            "in_flight": self.in_flight,
            "uptime_s": round(time.time() - self.started_at, 3),
            "batching": {
                "enabled": self.settings.batching,
                "mode": self.settings.batching_mode if self.settings.batching else "off",
                "max_batch": self.settings.max_batch,
                "window_ms": self.settings.batch_window_ms,
                "queue_size": self.settings.queue_size,
                "timeout_s": self.settings.timeout_s,
            },
        }
