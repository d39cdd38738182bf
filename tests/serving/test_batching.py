"""Dynamic micro-batching: concurrent requests for one model share backend calls; with batching
off each request is its own call. Checked both on the backend's record of calls and in the
Prometheus metrics the server exports."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pytest

from tests.serving.conftest import PREVIOUS, RecordingBackend
from tsukeku.generation.types import ComposeRequest
from tsukeku.serving.batching import MicroBatcher
from tsukeku.serving.errors import QueueFull


async def _concurrent(url: str, k: int, model: str | None = None) -> list[httpx.Response]:
    params = {"model": model} if model else {}
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        return await asyncio.gather(*(
            client.post("/invocations", json={"inputs": PREVIOUS, "parameters": params})
            for _ in range(k)))


def _metric(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{re.escape(name)}\{{{re.escape(want)}\}} (\S+)$" if labels else \
        rf"^{re.escape(name)} (\S+)$"
    match = re.search(pattern, text, re.M)
    assert match, f"{name} {labels} not in metrics"
    return float(match.group(1))


def test_eight_concurrent_requests_share_backend_calls(make_server):
    backend = RecordingBackend(overhead_s=0.05)
    server = make_server({"toy": backend}, max_batch=8, batch_window_ms=50)
    responses = asyncio.run(_concurrent(server.url, 8))
    assert all(r.status_code == 200 for r in responses)
    assert sum(backend.calls) == 8
    assert len(backend.calls) < 8 and max(backend.calls) > 1, backend.calls
    metrics = httpx.get(f"{server.url}/metrics").text
    assert _metric(metrics, "tsukeku_batch_size_count", model="toy") == len(backend.calls)
    assert _metric(metrics, "tsukeku_batch_size_sum", model="toy") == 8
    assert _metric(metrics, "tsukeku_batches_total", model="toy") == len(backend.calls)
    assert _metric(metrics, "tsukeku_compositions_total", model="toy", outcome="ok") == 8


def test_max_batch_caps_a_call(make_server):
    backend = RecordingBackend(overhead_s=0.05)
    server = make_server({"toy": backend}, max_batch=3, batch_window_ms=100)
    asyncio.run(_concurrent(server.url, 9))
    assert max(backend.calls) <= 3 and sum(backend.calls) == 9


def test_no_batching_makes_one_call_per_request(make_server):
    backend = RecordingBackend(overhead_s=0.01)
    server = make_server({"toy": backend}, batching=False)
    responses = asyncio.run(_concurrent(server.url, 6))
    assert all(r.status_code == 200 for r in responses)
    assert backend.calls == [1] * 6


def test_models_batch_separately(make_server):
    toy, other = RecordingBackend("toy", overhead_s=0.05), RecordingBackend("other", overhead_s=0.05)
    server = make_server({"toy": toy, "other": other}, batch_window_ms=50)

    async def both():
        return await asyncio.gather(_concurrent(server.url, 4, "toy"),
                                    _concurrent(server.url, 4, "other"))

    a, b = asyncio.run(both())
    assert {r.json()["model"] for r in a} == {"toy"} and {r.json()["model"] for r in b} == {"other"}
    assert sum(toy.calls) == 4 and sum(other.calls) == 4


def test_batching_keeps_the_event_loop_free(make_server):
    # While a long batch is generating in its worker thread, other routes answer at once.
    backend = RecordingBackend(overhead_s=1.0)
    server = make_server({"toy": backend})

    async def scenario():
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            slow = asyncio.create_task(client.post("/invocations", json={"inputs": PREVIOUS}))
            while not backend.calls:
                await asyncio.sleep(0.01)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            health = await client.get("/health")
            waited = loop.time() - t0
            return health, waited, await slow

    health, waited, slow = asyncio.run(scenario())
    assert health.json()["models"][0]["running"] == 1
    assert waited < 0.5 and slow.status_code == 200


def test_batcher_unit_window_and_queue_limit():
    async def scenario():
        backend = RecordingBackend(overhead_s=0.02)
        batcher = MicroBatcher("toy", backend, max_batch=4, window_s=0.05, queue_size=5)
        batcher.start()
        futures = [batcher.submit(ComposeRequest(previous=PREVIOUS, n=1)) for _ in range(5)]
        with pytest.raises(QueueFull):
            batcher.submit(ComposeRequest(previous=PREVIOUS))
        results = await asyncio.gather(*futures)
        await batcher.stop()
        return backend.calls, results

    calls, results = asyncio.run(scenario())
    assert calls == [4, 1]
    assert all(len(r.candidates) == 1 for r in results)


def test_batcher_skips_requests_that_gave_up():
    async def scenario():
        backend = RecordingBackend(overhead_s=0.02)
        batcher = MicroBatcher("toy", backend, max_batch=8, window_s=0.05, queue_size=8)
        batcher.start()
        futures = [batcher.submit(ComposeRequest(previous=PREVIOUS)) for _ in range(3)]
        futures[1].cancel()  # its client timed out
        done = await asyncio.gather(futures[0], futures[2])
        await batcher.stop()
        return backend.calls, done

    calls, done = asyncio.run(scenario())
    assert calls == [2] and len(done) == 2


def test_remote_backends_are_called_concurrently_not_batched(make_server):
    from tsukeku.backends.base import RemoteBackend

    class SlowRemote(RemoteBackend):
        """A remote service that takes 0.3 s a call (and batches on its own side)."""

        def __init__(self) -> None:
            self.name = "remote"
            self.local = RecordingBackend("remote")

        def compose(self, request):
            time.sleep(0.3)
            return self.local.compose(request)

    remote = SlowRemote()
    server = make_server({"remote": remote}, remote_concurrency=8)
    started = time.perf_counter()
    responses = asyncio.run(_concurrent(server.url, 8))
    elapsed = time.perf_counter() - started
    assert all(r.status_code == 200 for r in responses)
    assert remote.local.calls == [1] * 8  # one call per request …
    assert elapsed < 8 * 0.3 * 0.6, elapsed  # … several at a time
    assert httpx.get(f"{server.url}/health").json()["models"][0]["batching"] is False


def test_closed_loop_clients_do_not_split_into_half_batches():
    """16 clients that resubmit as soon as they are answered: without counting the window from
    the end of the previous batch they would settle into two alternating batches of 8."""

    async def scenario():
        backend = RecordingBackend(overhead_s=0.05)
        batcher = MicroBatcher("toy", backend, max_batch=16, window_s=0.02, queue_size=64)
        batcher.start()

        async def client(i: int) -> None:
            await asyncio.sleep(0.003 * i)  # staggered start: the first batch is partial
            for _ in range(6):
                await batcher.submit(ComposeRequest(previous=PREVIOUS, n=1))

        await asyncio.gather(*(client(i) for i in range(16)))
        await batcher.stop()
        return backend.calls

    calls = asyncio.run(scenario())
    assert sum(calls) == 96
    assert sum(calls[2:]) / len(calls[2:]) >= 14, calls
