"""Graceful shutdown: requests in flight finish; new ones get 503 until the server is gone."""

from __future__ import annotations

import asyncio
import threading

import httpx

from tests.serving.conftest import PREVIOUS, RecordingBackend


def test_in_flight_requests_finish_and_new_ones_get_503(make_server):
    gate = threading.Event()
    backend = RecordingBackend(gate=gate)
    server = make_server({"toy": backend})

    async def scenario():
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            in_flight = asyncio.create_task(
                client.post("/invocations", json={"inputs": PREVIOUS}))
            while not backend.calls:
                await asyncio.sleep(0.01)
            server.server.should_exit = True  # what SIGTERM does
            while (await client.get("/health")).json()["status"] != "draining":
                await asyncio.sleep(0.01)
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as fresh:
                refused = await fresh.post("/invocations", json={"inputs": PREVIOUS})
                ping = await fresh.get("/ping")
            gate.set()
            return await in_flight, refused, ping

    done, refused, ping = asyncio.run(scenario())
    assert done.status_code == 200 and len(done.json()["candidates"]) == 5
    assert refused.status_code == 503
    assert refused.json()["error"]["type"] == "unavailable"
    assert refused.headers["retry-after"] == "1"
    assert ping.status_code == 503
    server.thread.join(10)
    assert not server.thread.is_alive()


def test_shutdown_when_idle_is_immediate(make_server, backend):
    server = make_server({"toy": backend})
    assert httpx.post(f"{server.url}/invocations", json={"inputs": PREVIOUS}).status_code == 200
    server.server.should_exit = True
    server.thread.join(5)
    assert not server.thread.is_alive()
