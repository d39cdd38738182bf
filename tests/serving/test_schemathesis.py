"""Property-based API testing with schemathesis: requests generated from the app's OpenAPI
document (valid ones and, in negative mode, invalid ones) are sent to a live server, and none
may get a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
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
