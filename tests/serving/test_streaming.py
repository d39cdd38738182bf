"""Token streaming against a real uvicorn server on the tiny base (continuous batching): the real
`openai` client's streaming iterator, raw SSE order and [DONE], SageMaker JSON Lines from
/invocations, boto3's invoke_endpoint_with_response_stream on the event-stream path, the
event-stream framing through botocore's own decoder, and a client leaving mid-stream."""

from __future__ import annotations

import json
import time

import boto3
import httpx
import openai
import pytest
from botocore.eventstream import EventStreamBuffer

from tests.serving.conftest import PREVIOUS
from tsukeku.prosody import check_form
from tsukeku.serving.app import create_app
from tsukeku.serving.eventstream import encode_message, model_stream_error, payload_part
from tsukeku.serving.registry import registry_loader, write_models_file
from tsukeku.serving.server import start_in_thread
from tsukeku.serving.settings import ServeSettings


@pytest.fixture(scope="module")
def url(tiny_base, tmp_path_factory):
    models = write_models_file(tmp_path_factory.mktemp("models") / "models.yaml", "base",
                               base=tiny_base)
    server = start_in_thread(create_app(registry_loader(models), ServeSettings()))
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{server.url}/ping", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    assert httpx.get(f"{server.url}/health").json()["models"][0]["batching_mode"] == "continuous"
    yield server.url
    server.stop()


def _replay(pieces: list[tuple[int, str, bool]]) -> dict[int, str]:
    """Each choice's text as a client shows it: deltas appended, a restart replaces."""
    shown: dict[int, str] = {}
    for index, text, restart in pieces:
        shown[index] = text if restart else shown.get(index, "") + text
    return shown


def test_openai_chat_stream_token_by_token_keeps_the_form(url):
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
    stream = client.chat.completions.create(
        model="base", messages=[{"role": "user", "content": PREVIOUS}], n=2, seed=3,
        stream=True)
    chunks, arrived = [], []
    for chunk in stream:
        chunks.append(chunk)
        arrived.append(time.perf_counter())
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    last = chunks[-1]
    assert last.choices == []
    report = last.model_extra["tsukeku"]
    body = [c for c in chunks[:-1]]
    pieces = [(c.choices[0].index, c.choices[0].delta.content or "",
               bool((c.choices[0].model_extra or {}).get("tsukeku", {}).get("restart")))
              for c in body]
    texts = _replay(pieces)
    assert sorted(texts.values()) == sorted(c["text"] for c in report["candidates"])
    assert len(report["candidates"]) == 2
    for cand in report["candidates"]:
        assert cand["ok"] and check_form(cand["text"], report["form"]).ok
    # more text chunks than verses: streamed as decoded, not one event per candidate
    assert sum(1 for c in body if c.choices[0].delta.content) > 2 * 2
    stops = [c.choices[0].index for c in body if c.choices[0].finish_reason == "stop"]
    assert sorted(stops) == [0, 1]
    for index in (0, 1):  # nothing follows a choice's stop
        at = next(i for i, c in enumerate(body)
                  if c.choices[0].index == index and c.choices[0].finish_reason)
        assert all(c.choices[0].index != index for c in body[at + 1:])
    assert arrived[0] < arrived[-1]


def test_raw_sse_ends_with_done_and_completions_number_choices_per_prompt(url):
    with httpx.stream("POST", f"{url}/v1/completions", timeout=120, json={
            "model": "base", "prompt": [PREVIOUS, "秋の夜の 月を見上げて"], "n": 2,
            "stream": True}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [line for line in r.iter_lines() if line]
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e[len("data: "):]) for e in events[:-1]]
    assert all(c["object"] == "text_completion" for c in chunks)
    indices = {c["choices"][0]["index"] for c in chunks[:-1]}
    assert indices == {0, 1, 2, 3}
    reports = chunks[-1]["tsukeku"]
    assert [r["form"] for r in reports] == ["7-7", "5-7-5"]


def test_openai_completion_stream_with_the_client(url):
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
    chunks = list(client.completions.create(model="base", prompt=PREVIOUS, n=1, stream=True))
    # a verse that fails the final check is replaced in its slot: a restart chunk (unseeded
    # here, so it happens now and then) replaces the text so far, as a client shows it
    pieces = [(c.choices[0].index, c.choices[0].text,
               bool((c.choices[0].model_extra or {}).get("tsukeku", {}).get("restart")))
              for c in chunks[:-1]]
    assert _replay(pieces) == {0: chunks[-1].model_extra["tsukeku"][0]["candidates"][0]["text"]}


def test_errors_before_the_stream_are_http_errors(url):
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model="nope", stream=True,
                                       messages=[{"role": "user", "content": PREVIOUS}])
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model="base", stream=True, n=17,
                                       messages=[{"role": "user", "content": PREVIOUS}])
    # refused by the model while planning: the first event is the error, still a status code
    r = httpx.post(f"{url}/v1/chat/completions", timeout=60, json={
        "model": "base", "stream": True, "adapter": "nonesuch",
        "messages": [{"role": "user", "content": PREVIOUS}]})
    assert r.status_code in (400, 422) and "no adapter" in r.text, r.text


def test_a_client_leaving_mid_stream_does_not_break_the_server(url):
    with httpx.stream("POST", f"{url}/v1/chat/completions", timeout=120, json={
            "model": "base", "messages": [{"role": "user", "content": PREVIOUS}], "n": 3,
            "stream": True}) as r:
        for line in r.iter_lines():
            if line.startswith("data: {"):
                break  # leave after the first chunk
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        health = httpx.get(f"{url}/health").json()
        if health["in_flight"] == 0 and health["models"][0]["running"] == 0:
            break
        time.sleep(0.05)
    assert health["in_flight"] == 0 and health["models"][0]["running"] == 0
    r = httpx.post(f"{url}/invocations", json={"inputs": PREVIOUS, "parameters": {"n": 1}},
                   timeout=60)
    assert r.status_code == 200 and r.json()["candidates"][0]["ok"]


def test_invocations_stream_json_lines_when_asked(url):
    for header in ("Accept", "X-Amzn-SageMaker-Accept"):
        with httpx.stream("POST", f"{url}/invocations", timeout=120,
                          headers={header: "application/jsonlines"},
                          json={"inputs": PREVIOUS, "parameters": {"n": 2}}) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("application/jsonlines")
            assert "content-length" not in r.headers  # chunked
            lines = [json.loads(line) for line in r.iter_lines() if line]
        assert lines[-1]["event"] == "done"
        result = lines[-1]["result"]
        assert len(result["candidates"]) == 2 and all(c["ok"] for c in result["candidates"])
        finals = {x["slot"]: x["text"] for x in lines if x["event"] == "candidate"}
        assert sorted(finals.values()) == sorted(c["text"] for c in result["candidates"])
        assert sum(1 for x in lines if x["event"] == "delta") > 2


def test_boto3_invoke_endpoint_with_response_stream(url):
    runtime = boto3.client("sagemaker-runtime", endpoint_url=url, region_name="us-east-1",
                           aws_access_key_id="x", aws_secret_access_key="y")
    out = runtime.invoke_endpoint_with_response_stream(
        EndpointName="tsukeku", ContentType="application/json", Accept="application/jsonlines",
        Body=json.dumps({"inputs": "袖にかかる 春の淡雪", "parameters": {"n": 2}}))
    assert out["ContentType"] == "application/jsonlines"
    assert out["InvokedProductionVariant"] == "AllTraffic"
    parts = [event["PayloadPart"]["Bytes"] for event in out["Body"]]
    assert len(parts) > 3
    lines = [json.loads(line) for line in b"".join(parts).decode("utf-8").splitlines()]
    result = lines[-1]["result"]
    assert result["form"] == "5-7-5" and len(result["candidates"]) == 2
    for cand in result["candidates"]:
        assert cand["ok"] and cand["ku_morae"] == [5, 7, 5]


def test_event_stream_framing_round_trips_through_botocore():
    buffer = EventStreamBuffer()
    data = payload_part("付句 はこれ\n".encode())
    buffer.add_data(data[:7])  # messages may arrive split across reads
    assert list(buffer) == []
    buffer.add_data(data[7:] + model_stream_error("boom", "500")
                    + encode_message({"a": "b"}, b""))
    messages = list(buffer)
    assert [m.headers for m in messages] == [
        {":event-type": "PayloadPart", ":message-type": "event",
         ":content-type": "application/octet-stream"},
        {":exception-type": "ModelStreamError", ":message-type": "exception",
         ":content-type": "application/json"},
        {"a": "b"}]
    assert messages[0].payload.decode() == "付句 はこれ\n"
    assert json.loads(messages[1].payload) == {"Message": "boom", "ErrorCode": "500"}
    corrupt = bytearray(payload_part(b"x"))
    corrupt[-1] ^= 1
    bad = EventStreamBuffer()
    bad.add_data(bytes(corrupt))
    with pytest.raises(Exception, match="[Cc]hecksum"):
        list(bad)
