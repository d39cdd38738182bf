"""Operations routes: /health, /metrics, OpenAPI and /docs."""

from __future__ import annotations

import httpx

from tests.serving.conftest import PREVIOUS


def test_health_details(server):
    httpx.post(f"{server.url}/invocations", json={"inputs": PREVIOUS})
    h = httpx.get(f"{server.url}/health").json()
    assert h["status"] == "ready" and h["loaded"] is True
    assert [m["name"] for m in h["models"]] == ["toy", "other"]
    assert h["default_model"] == "toy"
    assert h["queue"] == 0 and h["in_flight"] == 0
    assert h["uptime_s"] >= 0
    assert h["batching"]["enabled"] is True and h["batching"]["max_batch"] == 8
    assert h["version"]


def test_metrics_count_requests_by_route_and_status(server):
    httpx.post(f"{server.url}/invocations", json={"inputs": PREVIOUS})
    httpx.post(f"{server.url}/invocations", json={"inputs": PREVIOUS, "parameters": {"n": 99}})
    httpx.get(f"{server.url}/nowhere/at/all")
    r = httpx.get(f"{server.url}/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'tsukeku_http_requests_total{method="POST",route="/invocations",status="200"} 1.0' in text
    assert 'tsukeku_http_requests_total{method="POST",route="/invocations",status="422"} 1.0' in text
    # unmatched paths share one label, so scanners cannot blow up the metric's cardinality
    assert 'route="unmatched",status="404"' in text
    assert "tsukeku_http_request_duration_seconds_bucket" in text
    assert 'tsukeku_queue_depth{model="toy"} 0.0' in text
    assert "tsukeku_models_loaded 2.0" in text


def test_openapi_and_docs(server):
    spec = httpx.get(f"{server.url}/openapi.json").json()
    paths = spec["paths"]
    for path in ("/ping", "/invocations", "/endpoints/{name}/invocations", "/v1/completions",
                 "/v1/chat/completions", "/v1/models", "/health", "/metrics"):
        assert path in paths, path
    body = paths["/invocations"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "text/plain"}
    assert "InvocationRequest" in spec["components"]["schemas"]
    assert "ComposeParameters" in spec["components"]["schemas"]
    docs = httpx.get(f"{server.url}/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
