"""The engine apart from its entrypoints: ComposeService speaks tsukeku.errors (no HTTP), the
app maps them to status codes, routes get their objects through dependencies, and the lifespan
opens the arena database."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.serving.conftest import PREVIOUS, RecordingBackend
from tsukeku.errors import (
    GenerationTimeout,
    InputError,
    QueueFull,
    TsukekuError,
    Unavailable,
    UnknownModel,
)
from tsukeku.generation.types import MAX_CANDIDATES, MAX_NEW_TOKENS, ComposeRequest
from tsukeku.serving.app import create_app
from tsukeku.serving.deps import get_service
from tsukeku.serving.errors import domain_status
from tsukeku.serving.service import ComposeService
from tsukeku.serving.settings import ServeSettings


def test_the_engine_raises_domain_errors_not_http_ones():
    async def scenario():
        service = ComposeService(ServeSettings(retry_after_s=3, timeout_s=0.1))
        with pytest.raises(Unavailable) as loading:  # nothing attached yet
            await service.compose(None, ComposeRequest(previous=PREVIOUS))
        assert loading.value.retry_after_s == 3
        service.attach({"toy": RecordingBackend(), "slow": RecordingBackend(overhead_s=1.0)})
        try:
            with pytest.raises(UnknownModel, match="unknown model 'nope'.*toy"):
                await service.compose("nope", ComposeRequest(previous=PREVIOUS))
            with pytest.raises(GenerationTimeout):
                await service.compose("slow", ComposeRequest(previous=PREVIOUS))
            result = await service.compose(None, ComposeRequest(previous=PREVIOUS, n=2))
            assert result.model == "toy" and len(result.candidates) == 2
        finally:
            await service.close()

    asyncio.run(scenario())


@pytest.mark.parametrize(("error", "status", "type_", "retry_after"), [
    (QueueFull("full", retry_after_s=1), 429, "queue_full", "1"),
    (Unavailable("loading", retry_after_s=1.2), 503, "unavailable", "2"),  # whole seconds, up
    (Unavailable("failed"), 503, "unavailable", None),
    (GenerationTimeout("slow"), 504, "timeout", None),
    (UnknownModel("nope"), 422, "invalid_request", None),
    (InputError("unreadable"), 422, "invalid_request", None),
])
def test_domain_errors_map_to_status_codes(error, status, type_, retry_after):
    got_status, got_type, headers = domain_status(error)
    assert (got_status, got_type) == (status, type_)
    assert headers.get("Retry-After") == retry_after


def test_a_backend_error_is_502():
    from tsukeku.backends.base import BackendError

    assert domain_status(BackendError("remote down"))[:2] == (502, "upstream_error")
    assert isinstance(BackendError("x"), TsukekuError)


def test_request_limits_are_one_set_for_every_entry_point(server):
    # The request model itself (CLI, composer) and the HTTP API refuse the same values.
    for bad in ({"n": MAX_CANDIDATES + 1}, {"max_new_tokens": MAX_NEW_TOKENS + 1}):
        with pytest.raises(InputError):
            ComposeRequest(previous=PREVIOUS, **bad)
        r = httpx.post(f"{server.url}/invocations", json={"inputs": PREVIOUS, "parameters": bad})
        assert r.status_code == 422
        key = "max_tokens" if "max_new_tokens" in bad else "n"
        r = httpx.post(f"{server.url}/v1/completions",
                       json={"prompt": PREVIOUS, key: next(iter(bad.values()))})
        assert r.status_code == 422
    at_limit = {"n": MAX_CANDIDATES, "max_new_tokens": MAX_NEW_TOKENS}
    assert ComposeRequest(previous=PREVIOUS, **at_limit).n == MAX_CANDIDATES
    r = httpx.post(f"{server.url}/invocations", json={"inputs": PREVIOUS, "parameters": at_limit})
    assert r.status_code == 200 and len(r.json()["candidates"]) == MAX_CANDIDATES


def test_routes_take_the_service_from_a_dependency():
    app = create_app({"toy": RecordingBackend()}, ServeSettings(batch_window_ms=0))
    other = ComposeService(ServeSettings(batch_window_ms=0))
    app.dependency_overrides[get_service] = lambda: other
    with TestClient(app) as client:
        async def attach() -> None:  # on the app's event loop, where its batchers run
            other.attach({"stand-in": RecordingBackend("stand-in")})

        client.portal.call(attach)
        r = client.post("/invocations", json={"inputs": PREVIOUS})
        assert r.status_code == 200 and r.json()["model"] == "stand-in"
        assert client.get("/v1/models").json()["data"][0]["id"] == "stand-in"


def test_the_lifespan_opens_the_arena_database(tmp_path, monkeypatch):
    db = tmp_path / "votes.sqlite3"
    monkeypatch.setenv("TSUKEKU_ARENA_DB", str(db))
    app = create_app({"a": RecordingBackend("a"), "b": RecordingBackend("b")})
    assert not db.exists()
    with TestClient(app) as client:
        assert db.exists()  # opened at startup, not by the first arena request
        board = client.get("/api/arena/leaderboard")
        assert board.status_code == 200, board.text


def test_the_api_key_comes_before_not_found_and_bad_bodies(make_server):
    server = make_server({"toy": RecordingBackend()}, api_key="k")
    for r in (httpx.get(f"{server.url}/nowhere"),
              httpx.get(f"{server.url}/invocations"),
              httpx.post(f"{server.url}/api/compose", content=b"{",
                         headers={"Content-Type": "application/json"})):
        assert r.status_code == 401 and r.json()["error"]["type"] == "unauthorized"
    assert httpx.get(f"{server.url}/nowhere", headers={"X-Api-Key": "k"}).status_code == 404
