"""Limits and errors: every error is JSON {"error": {"type", "message"}} with the right status,
and no failure takes the server down."""

from __future__ import annotations

import asyncio
import json
import socket
import threading

import httpx
import pytest

from tests.serving.conftest import POISON, PREVIOUS, BrokenBackend, RecordingBackend
from tsukeku.serving.settings import MAX_BODY_BYTES


def _error(r: httpx.Response, status: int, type_: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body["error"]) == {"type", "message"}
    assert body["error"]["type"] == type_
    assert body["error"]["message"]
    assert "Traceback" not in r.text
    return body["error"]


def test_body_over_6mib_with_content_length_is_413_before_reading(server):
    # Declares a huge body but sends only a few bytes: the answer must come without waiting
    # for the rest (a server that read the body first would hang here).
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode()
            + b'{"inputs": "'
        )
        answer = b""
        while b"}}" not in answer:  # until the end of the JSON error body
            chunk = sock.recv(65536)
            assert chunk, f"connection closed after {answer!r}"
            answer += chunk
    head, _, body = answer.decode().partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 413")
    assert json.loads(body)["error"]["type"] == "payload_too_large"


def _urllib_post(url: str, data, headers: dict[str, str]) -> tuple[int, dict]:
    """POST with Python's urllib, which writes the whole body before it reads the answer."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_oversize_body_from_urllib_gets_the_413_not_a_reset(server):
    # Content-Length over the limit: the server answers before reading, then reads and drops
    # the rest, so that urllib (still writing) does not see "connection reset by peer".
    status, body = _urllib_post(f"{server.url}/invocations", b"x" * (MAX_BODY_BYTES + 4096),
                                {"Content-Type": "text/plain"})
    assert status == 413 and body["error"]["type"] == "payload_too_large"
    assert httpx.get(f"{server.url}/ping").status_code == 200


def test_oversize_chunked_body_from_urllib_gets_the_413(server):
    piece = b"x" * 65536
    # chunked (no length), 4 MiB past the limit: more than socket buffers hold
    chunks = (piece for _ in range(MAX_BODY_BYTES // len(piece) + 64))
    status, body = _urllib_post(f"{server.url}/v1/completions", chunks,
                                {"Content-Type": "application/json"})
    assert status == 413 and body["error"]["type"] == "payload_too_large"


def test_body_at_the_limit_passes_the_size_check(server):
    body = json.dumps({"inputs": PREVIOUS}).encode()
    body += b" " * (MAX_BODY_BYTES - len(body))
    r = httpx.post(f"{server.url}/invocations", content=body,
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 200


def test_chunked_body_over_6mib_is_413(server):
    sent = 0

    def chunks():
        nonlocal sent
        piece = b"x" * 65536
        for _ in range(MAX_BODY_BYTES // len(piece) + 2):
            sent += len(piece)
            yield piece

    try:
        r = httpx.post(f"{server.url}/invocations", content=chunks(),
                       headers={"Content-Type": "text/plain"}, timeout=30)
    except httpx.WriteError:  # the server may answer and close before the upload ends
        pytest.fail("the server closed the connection without a 413 answer")
    assert "content-length" not in r.request.headers  # really chunked
    _error(r, 413, "payload_too_large")
    assert httpx.get(f"{server.url}/ping").status_code == 200


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b'{"inputs": ', "application/json"), (b"\xff\xfe{", "application/json"),
     (b"", "application/json"), (b"\xff\xfe", "text/plain")],
)
def test_malformed_body_is_400(server, body, content_type):
    r = httpx.post(f"{server.url}/invocations", content=body,
                   headers={"Content-Type": content_type})
    _error(r, 400, "bad_request")


@pytest.mark.parametrize("content_type", ["application/xml", "multipart/form-data; boundary=x",
                                          "image/png", "application/x-www-form-urlencoded"])
def test_unsupported_content_type_is_415(server, content_type):
    r = httpx.post(f"{server.url}/invocations", content=b"<a/>",
                   headers={"Content-Type": content_type})
    _error(r, 415, "unsupported_media_type")
    r = httpx.post(f"{server.url}/v1/completions", content=b"x",
                   headers={"Content-Type": "text/plain"})
    _error(r, 415, "unsupported_media_type")


def test_accepting_only_another_type_is_406(server):
    r = httpx.post(f"{server.url}/invocations", json={"inputs": PREVIOUS},
                   headers={"Accept": "text/csv"})
    _error(r, 406, "not_acceptable")


@pytest.mark.parametrize(
    ("payload", "mentions"),
    [
        ({"inputs": PREVIOUS, "parameters": {"n": 17}}, "parameters.n"),
        ({"inputs": PREVIOUS, "parameters": {"n": 0}}, "parameters.n"),
        ({"inputs": PREVIOUS, "parameters": {"model": "nope"}}, "unknown model 'nope'"),
        ({"inputs": PREVIOUS, "parameters": {"form": "5-7-5-7-7"}}, "parameters.form"),
        ({"inputs": PREVIOUS, "parameters": {"temperature": 0}}, "parameters.temperature"),
        ({"inputs": PREVIOUS, "parameters": {"temperature": "hot"}}, "parameters.temperature"),
        ({"inputs": PREVIOUS, "parameters": {"nn": 3}}, "parameters.nn"),
        ({"inputs": ""}, "inputs"),
        ({"inputs": "あ" * 201}, "inputs"),
        ({"inputs": []}, "inputs"),
        ({"prompt": PREVIOUS}, "inputs"),
        ({"inputs": 5}, "inputs"),
        (7, "inputs"),
        ([], "inputs"),
        ({"inputs": f"{POISON}の 句を詠む 人もなし"}, "cannot read"),  # refused by the backend
        ({"inputs": "\u001c"}, "control character"),  # refused at the edge, for any backend
        ({"inputs": ["霞たつ 野辺の若菜を 摘みに出て", "、。"]}, "only spaces and punctuation"),
    ],
)
def test_invalid_parameters_are_422(server, payload, mentions):
    r = httpx.post(f"{server.url}/invocations", json=payload)
    assert mentions in _error(r, 422, "invalid_request")["message"]


def test_unknown_route_and_method_are_json(server):
    _error(httpx.get(f"{server.url}/nowhere"), 404, "not_found")
    _error(httpx.get(f"{server.url}/invocations"), 405, "method_not_allowed")


def test_generation_over_the_timeout_is_504(make_server):
    slow = RecordingBackend("slow", overhead_s=1.0)
    server = make_server({"slow": slow}, timeout_s=0.2)
    r = httpx.post(f"{server.url}/invocations", json={"inputs": PREVIOUS})
    _error(r, 504, "timeout")
    assert httpx.get(f"{server.url}/ping").status_code == 200


def test_full_queue_is_429_with_retry_after(make_server):
    gate = threading.Event()
    held = RecordingBackend("held", gate=gate)
    server = make_server({"held": held}, queue_size=2, max_batch=1)

    async def scenario():
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            first = asyncio.create_task(client.post("/invocations", json={"inputs": PREVIOUS}))
            while not held.calls:  # the first request is being generated, held at the gate
                await asyncio.sleep(0.01)
            waiting = [asyncio.create_task(client.post("/invocations", json={"inputs": PREVIOUS}))
                       for _ in range(2)]
            while (await client.get("/health")).json()["queue"] < 2:
                await asyncio.sleep(0.01)
            refused = await client.post("/invocations", json={"inputs": PREVIOUS})
            gate.set()
            return refused, await first, await asyncio.gather(*waiting)

    refused, first, waiting = asyncio.run(scenario())
    _error(refused, 429, "queue_full")
    assert refused.headers["retry-after"] == "1"
    assert first.status_code == 200 and all(r.status_code == 200 for r in waiting)


def test_a_failing_request_does_not_fail_its_batch_neighbours(make_server):
    backend = RecordingBackend(overhead_s=0.05)
    server = make_server({"toy": backend}, batch_window_ms=100)

    async def scenario():
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            verses = [PREVIOUS, f"{POISON}の 句を詠む 人もなし", "山の端に 月をまちつつ 眠る鳥"]
            return await asyncio.gather(
                *(client.post("/invocations", json={"inputs": v}) for v in verses))

    good, bad, also_good = asyncio.run(scenario())
    assert good.status_code == 200 and also_good.status_code == 200
    _error(bad, 422, "invalid_request")
    assert backend.calls[0] == 3  # they were batched, then answered one by one


def test_a_backend_bug_is_a_json_500_and_the_server_stays_up(make_server):
    server = make_server({"broken": BrokenBackend("broken"), "toy": RecordingBackend()})
    r = httpx.post(f"{server.url}/invocations", json={"inputs": PREVIOUS},
                   headers={"X-Request-Id": "req-42"})
    err = _error(r, 500, "internal_error")
    assert "req-42" in err["message"] and "boom" not in err["message"]
    assert r.headers["x-request-id"] == "req-42"
    ok = httpx.post(f"{server.url}/invocations",
                    json={"inputs": PREVIOUS, "parameters": {"model": "toy"}})
    assert ok.status_code == 200


def test_api_key(make_server, backend):
    server = make_server({"toy": backend}, api_key="s3cret")
    url = f"{server.url}/invocations"
    r = httpx.post(url, json={"inputs": PREVIOUS})
    _error(r, 401, "unauthorized")
    assert r.headers["www-authenticate"] == "Bearer"
    _error(httpx.post(url, json={"inputs": PREVIOUS}, headers={"Authorization": "Bearer nope"}),
           401, "unauthorized")
    assert httpx.post(url, json={"inputs": PREVIOUS},
                      headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert httpx.post(url, json={"inputs": PREVIOUS},
                      headers={"X-Api-Key": "s3cret"}).status_code == 200
    assert httpx.get(f"{server.url}/ping").status_code == 200  # stays open
    _error(httpx.get(f"{server.url}/metrics"), 401, "unauthorized")


def test_api_key_from_environment(make_server, backend, monkeypatch):
    monkeypatch.setenv("TSUKEKU_API_KEY", "from-env")
    server = make_server({"toy": backend})
    assert httpx.get(f"{server.url}/health").status_code == 401
    assert httpx.get(f"{server.url}/health", headers={"X-Api-Key": "from-env"}).status_code == 200


def test_cors_is_off_unless_configured(make_server, backend):
    preflight = {"Origin": "https://renga.example", "Access-Control-Request-Method": "POST"}
    plain = make_server({"toy": backend})
    r = httpx.options(f"{plain.url}/invocations", headers=preflight)
    assert "access-control-allow-origin" not in r.headers
    r = httpx.post(f"{plain.url}/invocations", json={"inputs": PREVIOUS},
                   headers={"Origin": "https://renga.example"})
    assert "access-control-allow-origin" not in r.headers

    cors = make_server({"toy": backend}, cors_origins=["https://renga.example"], api_key="k")
    r = httpx.options(f"{cors.url}/invocations", headers=preflight)
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "https://renga.example"
    r = httpx.post(f"{cors.url}/invocations", json={"inputs": PREVIOUS},
                   headers={"Origin": "https://renga.example", "X-Api-Key": "k"})
    assert r.headers["access-control-allow-origin"] == "https://renga.example"


def test_request_ids_in_and_out_and_in_the_logs(server, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="tsukeku")
    r = httpx.post(f"{server.url}/invocations", json={"inputs": PREVIOUS},
                   headers={"X-Request-Id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    generated = httpx.get(f"{server.url}/ping").headers["x-request-id"]
    assert len(generated) == 32
    odd = httpx.get(f"{server.url}/ping", headers={"X-Request-Id": "bad id\twith space"})
    assert odd.headers["x-request-id"] != "bad id\twith space"  # replaced, never echoed
    access = [rec for rec in caplog.records if rec.name == "tsukeku.serving.access"]
    line = next(rec for rec in access if getattr(rec, "path", "") == "/invocations")
    from tsukeku.serving.logs import JsonFormatter

    logged = json.loads(JsonFormatter().format(line))
    assert logged["request_id"] == "abc-123"
    assert logged["status"] == 200 and logged["route"] == "/invocations"


def test_a_failing_remote_service_is_502(make_server):
    from tsukeku.backends.openai_backend import OpenAIBackend

    # port 9 (discard) on loopback: nothing answers there
    remote = OpenAIBackend("far", base_url="http://127.0.0.1:9/v1", model="x", timeout=2,
                           max_retries=0)
    server = make_server({"far": remote})
    r = httpx.post(f"{server.url}/invocations", json={"inputs": PREVIOUS}, timeout=30)
    err = _error(r, 502, "upstream_error")
    assert "far" in err["message"] or "connect" in err["message"].lower()
    assert httpx.get(f"{server.url}/ping").status_code == 200
