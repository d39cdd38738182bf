"""The SageMaker container contract: /ping, /invocations (JSON, bare string, text/plain) and the
SageMaker Runtime path through the real boto3 client."""

from __future__ import annotations

import json
import threading
import time

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.serving.conftest import PREVIOUS, RecordingBackend


def test_ping_is_503_while_loading_then_200(make_server):
    release = threading.Event()

    def loader():
        release.wait(10)
        return {"toy": RecordingBackend()}

    server = make_server(loader)
    r = httpx.get(f"{server.url}/ping")
    assert r.status_code == 503
    assert r.headers["retry-after"] == "1"
    busy = httpx.post(f"{server.url}/invocations", json={"inputs": PREVIOUS})
    assert busy.status_code == 503 and busy.json()["error"]["type"] == "unavailable"
    release.set()
    deadline = time.monotonic() + 10
    while httpx.get(f"{server.url}/ping").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert httpx.post(f"{server.url}/invocations", json={"inputs": PREVIOUS}).status_code == 200


def test_ping_stays_503_and_health_says_why_when_loading_fails(make_server):
    def loader():
        raise FileNotFoundError("models.yaml names a missing adapter")

    server = make_server(loader)
    deadline = time.monotonic() + 10
    while (h := httpx.get(f"{server.url}/health").json())["status"] == "loading":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert h["status"] == "failed" and "missing adapter" in h["error"]
    assert httpx.get(f"{server.url}/ping").status_code == 503


def test_invocations_json_object(server, backend):
    r = httpx.post(f"{server.url}/invocations",
                   json={"inputs": PREVIOUS, "parameters": {"n": 3, "temperature": 0.7}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["previous"] == PREVIOUS
    assert body["form"] == "7-7"
    assert body["model"] == "toy"
    assert len(body["candidates"]) == 3
    for cand in body["candidates"]:
        assert set(cand) >= {"text", "reading", "ku_morae", "ok", "score"}
        assert len(cand["ku_morae"]) == 2
    assert body["latency_ms"] > 0
    assert r.headers["content-type"].startswith("application/json")
    assert backend.calls == [1]


def test_invocations_bare_json_string_and_text_plain(server):
    a = httpx.post(f"{server.url}/invocations", content=json.dumps(PREVIOUS),
                   headers={"Content-Type": "application/json"})
    b = httpx.post(f"{server.url}/invocations", content=PREVIOUS.encode(),
                   headers={"Content-Type": "text/plain; charset=utf-8"})
    c = httpx.post(f"{server.url}/invocations", content=PREVIOUS.encode("shift_jis"),
                   headers={"Content-Type": "text/plain; charset=shift_jis"})
    for r in (a, b, c):
        assert r.status_code == 200, r.text
        assert r.json()["previous"] == PREVIOUS


def test_invocations_chain_and_forced_form(server):
    chain = [PREVIOUS, "袖にかかる 春の淡雪", "山の端に 月をまちつつ 眠る鳥"]
    r = httpx.post(f"{server.url}/invocations",
                   json={"inputs": chain, "parameters": {"n": 2, "form": "5-7-5"}})
    assert r.status_code == 200, r.text
    assert r.json()["previous"] == chain
    assert r.json()["form"] == "5-7-5"
    assert all(len(c["ku_morae"]) == 3 for c in r.json()["candidates"])


def test_model_selection(server):
    r = httpx.post(f"{server.url}/invocations",
                   json={"inputs": PREVIOUS, "parameters": {"model": "other"}})
    assert r.json()["model"] == "other"
    r = httpx.post(f"{server.url}/invocations", json={"inputs": PREVIOUS},
                   headers={"X-Amzn-SageMaker-Target-Model": "other"})
    assert r.json()["model"] == "other"


def _runtime(url: str):
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}),
    )


def test_boto3_sagemaker_runtime_invoke_endpoint(server):
    client = _runtime(server.url)
    out = client.invoke_endpoint(
        EndpointName="tsukeku-endpoint",
        ContentType="application/json",
        Accept="application/json",
        Body=json.dumps({"inputs": PREVIOUS, "parameters": {"n": 2}}, ensure_ascii=False),
    )
    assert out["ContentType"].startswith("application/json")
    assert out["InvokedProductionVariant"] == "AllTraffic"
    body = json.loads(out["Body"].read())
    assert body["model"] == "toy" and len(body["candidates"]) == 2

    # the endpoint name picks the model when it is one of ours; TargetModel does too
    out = client.invoke_endpoint(EndpointName="other", ContentType="text/plain",
                                 Body=PREVIOUS.encode())
    assert json.loads(out["Body"].read())["model"] == "other"
    out = client.invoke_endpoint(EndpointName="tsukeku-endpoint", TargetModel="other",
                                 ContentType="application/json", Body=json.dumps(PREVIOUS))
    assert json.loads(out["Body"].read())["model"] == "other"


def test_boto3_sees_errors_as_client_errors(server):
    client = _runtime(server.url)
    with pytest.raises(ClientError) as info:
        client.invoke_endpoint(EndpointName="tsukeku-endpoint", ContentType="application/json",
                               Body=json.dumps({"inputs": PREVIOUS, "parameters": {"n": 99}}))
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 422
    assert info.value.response["Error"]["Code"] == "invalid_request"
    assert "parameters.n" in info.value.response["Error"]["Message"]
