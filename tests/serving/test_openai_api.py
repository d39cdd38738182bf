"""The OpenAI-compatible API through the real `openai` client."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.serving.conftest import PREVIOUS


@pytest.fixture
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)


def test_models_lists_the_registry(client):
    ids = [m.id for m in client.models.list()]
    assert ids == ["toy", "other"]


def test_completions(client, backend):
    out = client.completions.create(model="toy", prompt=PREVIOUS, n=3, temperature=0.7,
                                    max_tokens=40)
    assert out.object == "text_completion"
    assert out.model == "toy"
    assert [c.index for c in out.choices] == [0, 1, 2]
    assert all(c.finish_reason == "stop" and c.text for c in out.choices)
    details = out.model_extra["tsukeku"]
    assert details[0]["form"] == "7-7"
    assert [c["text"] for c in details[0]["candidates"]] == [c.text for c in out.choices]
    assert backend.calls == [1]


def test_completions_with_several_prompts_share_a_batch(client, backend):
    out = client.completions.create(model="toy", prompt=[PREVIOUS, "袖にかかる 春の淡雪"], n=2)
    assert len(out.choices) == 4
    assert backend.calls == [2]  # both prompts answered by one compose_many call


def test_chat_completions_chain_and_extra_body(client):
    out = client.chat.completions.create(
        model="other",
        messages=[
            {"role": "system", "content": "付句を詠んでください"},
            {"role": "user", "content": PREVIOUS},
            {"role": "assistant", "content": "袖にかかる 春の淡雪"},
            {"role": "user", "content": "山の端に 月をまちつつ 眠る鳥"},
        ],
        n=2,
        extra_body={"form": "7-7", "constrained": False},
    )
    assert out.object == "chat.completion"
    assert len(out.choices) == 2
    assert out.choices[0].message.role == "assistant"
    details = out.model_extra["tsukeku"]
    assert details["previous"] == [PREVIOUS, "袖にかかる 春の淡雪", "山の端に 月をまちつつ 眠る鳥"]
    assert details["model"] == "other" and details["form"] == "7-7"


def test_chat_streaming(client):
    stream = client.chat.completions.create(
        model="toy", messages=[{"role": "user", "content": PREVIOUS}], n=2, stream=True
    )
    chunks = list(stream)
    # a model without continuous batching streams whole candidates: text, stop, per choice;
    # the last chunk has no choices and carries the form report
    assert [(c.choices[0].index, c.choices[0].finish_reason) for c in chunks[:-1]] == [
        (0, None), (0, "stop"), (1, None), (1, "stop")]
    assert chunks[0].choices[0].delta.content and chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices == [] and len(chunks[-1].model_extra["tsukeku"]["candidates"]) == 2


def test_completion_streaming(client):
    chunks = list(client.completions.create(model="toy", prompt=PREVIOUS, n=2, stream=True))
    assert [c.choices[0].index for c in chunks[:-1]] == [0, 0, 1, 1]
    assert chunks[0].choices[0].text and chunks[1].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and len(chunks[-1].model_extra["tsukeku"]) == 1


def test_errors_reach_the_client_as_openai_errors(client):
    with pytest.raises(openai.UnprocessableEntityError) as info:
        client.completions.create(model="nope", prompt=PREVIOUS)
    assert "unknown model 'nope'" in info.value.message
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model="toy", n=17,
                                       messages=[{"role": "user", "content": PREVIOUS}])
    with pytest.raises(openai.UnprocessableEntityError):  # the last turn must be the user's
        client.chat.completions.create(model="toy", messages=[
            {"role": "user", "content": PREVIOUS}, {"role": "assistant", "content": "袖"}])
    with pytest.raises(openai.UnprocessableEntityError):  # we cannot honour logprobs
        client.completions.create(model="toy", prompt=PREVIOUS, logprobs=2)


def test_malformed_json_is_400(server):
    r = httpx.post(f"{server.url}/v1/chat/completions", content=b'{"model": ',
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "bad_request"
