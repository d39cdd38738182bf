"""Property-based API testing with schemathesis: requests generated from the app's OpenAPI
document (valid ones and, in negative mode, invalid ones) are sent to a live server, and none
may get a 5xx."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from tests.serving.conftest import RecordingBackend
from tsukeku.serving.app import create_app
from tsukeku.serving.server import start_in_thread
from tsukeku.serving.settings import ServeSettings


def _app():
    return create_app({"toy": RecordingBackend(), "other": RecordingBackend("other")},
                      ServeSettings(timeout_s=10))


# The document comes straight from the app (no server needed to collect the tests); the cases
# run against a live server started by the fixture below.
schema = schemathesis.openapi.from_dict(_app().openapi())


@pytest.fixture(scope="module")
def live_url():
    server = start_in_thread(_app())
    yield server.url
    server.stop()


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, live_url):
    case.call_and_validate(base_url=live_url, checks=[not_a_server_error])


# Bodies schemathesis does not generate: JSON nested past the parser's recursion limit (a
# RecursionError, not a JSONDecodeError), which once answered 500. Every JSON route refuses
# them with 400 and the usual error body.
DOCUMENT = _app().openapi()
JSON_POSTS = sorted(
    path.replace("{name}", "tsukeku").replace("{battle_id}", "abc123")
    for path, operations in DOCUMENT["paths"].items()
    if "post" in operations
)
DEEP = {
    "arrays": b"[" * 100_000,
    "objects": b'{"inputs": ' * 50_000,
    "inside_a_field": b'{"messages": ' + b"[" * 100_000,
}


@pytest.mark.parametrize("path", JSON_POSTS)
@pytest.mark.parametrize("body", list(DEEP.values()), ids=list(DEEP))
def test_deeply_nested_json_is_a_400(live_url, path, body):
    r = httpx.post(f"{live_url}{path}", content=body,
                   headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 400, (path, r.text)
    assert r.json()["error"]["type"] == "bad_request" and r.json()["error"]["message"]


OPENERS = {"[": "]", '{"inputs": ': "}", '{"parameters": {"n": ': "}}", '{"prompt": [': "]}"}


@given(path=st.sampled_from(JSON_POSTS), depth=st.integers(1, 200_000),
       opener=st.sampled_from(list(OPENERS)), closed=st.booleans())
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_nested_json_of_any_depth_is_never_a_server_error(live_url, path, depth, opener, closed):
    # closed: a well-formed document (a 1 at the bottom of the nesting), else cut off
    body = opener * depth + ("1" + OPENERS[opener] * depth if closed else "")
    r = httpx.post(f"{live_url}{path}", content=body.encode(),
                   headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code < 500, (path, depth, r.text[:200])
