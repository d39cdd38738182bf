"""OpenAIBackend through the real `openai` client against a local OpenAI-compatible server."""

from __future__ import annotations

import time

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tsukeku.backends import BackendError
from tsukeku.backends.openai_backend import OpenAIBackend
from tsukeku.errors import InputError
from tsukeku.generation.types import ComposeRequest
from tsukeku.prosody import check_form

from .conftest import BROKEN, LONG_PREVIOUS, SHORT_OK, SHORT_OK_2, Recorder, serve


def openai_app(rec: Recorder) -> FastAPI:
    app = FastAPI()

    def error():
        return JSONResponse({"error": {"message": "the test said no", "type": "test"}},
                            status_code=rec.status)

    @app.post("/v1/completions")
    async def completions(request: Request):
        body = await request.json()
        if rec.status != 200:
            rec.requests.append(body)
            return error()
        texts = rec.next_texts(body.get("n", 1))
        rec.requests.append(body)
        choices = [{"index": i, "text": t, "finish_reason": "stop",
                    "logprobs": {"tokens": list(t), "token_logprobs": [-0.5] * len(t),
                                 "top_logprobs": None, "text_offset": list(range(len(t)))}}
                   for i, t in enumerate(texts)]
        return {"id": "cmpl-1", "object": "text_completion", "created": int(time.time()),
                "model": body["model"], "choices": choices,
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        if rec.status != 200:
            rec.requests.append(body)
            return error()
        texts = rec.next_texts(body.get("n", 1))
        rec.requests.append(body)
        choices = [{"index": i, "message": {"role": "assistant", "content": t},
                    "finish_reason": "stop"} for i, t in enumerate(texts)]
        return {"id": "chat-1", "object": "chat.completion", "created": int(time.time()),
                "model": body["model"], "choices": choices,
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}

    return app


@pytest.fixture
def server():
    rec = Recorder()
    with serve(openai_app(rec)) as url:
        yield rec, url + "/v1"


def test_completions_mode_sends_the_template_and_filters_by_form(server):
    rec, url = server
    rec.answers = [SHORT_OK + "\n", BROKEN, "付句（7-7）：" + SHORT_OK_2, SHORT_OK]
    backend = OpenAIBackend("larger", base_url=url, model="base-7b", mode="completions",
                            api_key="k")
    result = backend.compose(ComposeRequest(previous=LONG_PREVIOUS, n=2, temperature=0.6, seed=3))
    sent = rec.requests[0]
    assert sent["model"] == "base-7b" and sent["n"] == 4  # oversampled ×2
    assert sent["prompt"].endswith("付句（7-7）：") and LONG_PREVIOUS in sent["prompt"]
    assert "\n" in sent["stop"] and sent["temperature"] == 0.6 and sent["seed"] == 3
    # the label is stripped, the duplicate and the broken verse are gone
    assert sorted(c.text for c in result.candidates) == sorted([SHORT_OK, SHORT_OK_2])
    assert all(c.ok and check_form(c.text, "7-7").ok for c in result.candidates)
    assert all(c.logprob is not None for c in result.candidates)
    assert not result.constrained and result.model == "larger"
    assert any("cannot be constrained token by token" in n for n in result.notes)
    assert any("filtered" in n for n in result.notes)
    assert backend.supports_constraints is False


def test_unconstrained_request_keeps_broken_verses_flagged(server):
    rec, url = server
    rec.answers = [BROKEN, SHORT_OK]
    backend = OpenAIBackend("larger", base_url=url, model="m", mode="completions")
    result = backend.compose(ComposeRequest(previous=LONG_PREVIOUS, n=2, constrained=False))
    assert [c.ok for c in result.candidates] == [True, False]  # the verse of the form first
    assert result.candidates[1].deviations


def test_chat_mode_sends_a_japanese_system_prompt(server):
    rec, url = server
    rec.answers = ["1. " + SHORT_OK, "付句：「" + SHORT_OK_2 + "」"]
    backend = OpenAIBackend("chat", base_url=url, model="chat-model", mode="chat")
    result = backend.compose(ComposeRequest(previous=[SHORT_OK, LONG_PREVIOUS], n=2))
    messages = rec.requests[0]["messages"]
    assert messages[0]["role"] == "system" and "連歌" in messages[0]["content"]
    assert "短句（七・七" in messages[1]["content"] and LONG_PREVIOUS in messages[1]["content"]
    assert SHORT_OK in messages[1]["content"]  # the verse before, as context
    assert sorted(c.text for c in result.candidates) == sorted([SHORT_OK, SHORT_OK_2])


def test_a_server_that_ignores_n_is_asked_again(server):
    rec, url = server
    rec.max_choices = 1
    rec.answers = [SHORT_OK, SHORT_OK_2, BROKEN]
    backend = OpenAIBackend("ollama", base_url=url, model="m", mode="chat", oversample=1.5)
    result = backend.compose(ComposeRequest(previous=LONG_PREVIOUS, n=2))
    assert len(rec.requests) == 3  # ceil(2 × 1.5) samples, one per call
    assert len(result.candidates) == 2


@pytest.mark.parametrize(("status", "words"), [(401, "API key"), (404, "model name"),
                                                (500, "HTTP 500")])
def test_http_errors_become_backend_errors(server, status, words):
    rec, url = server
    rec.status = status
    backend = OpenAIBackend("x", base_url=url, model="m", mode="chat", max_retries=0)
    with pytest.raises(BackendError, match=words):
        backend.compose(ComposeRequest(previous=LONG_PREVIOUS, n=1))


def test_unreachable_server_is_a_clear_error():
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    backend = OpenAIBackend("x", base_url=f"http://127.0.0.1:{port}/v1", model="m",
                            max_retries=0, timeout=5)
    with pytest.raises(BackendError, match="cannot connect"):
        backend.compose(ComposeRequest(previous=LONG_PREVIOUS, n=1))


def test_bad_previous_fails_before_any_call(server):
    rec, url = server
    backend = OpenAIBackend("x", base_url=url, model="m")
    with pytest.raises(InputError):
        backend.compose(ComposeRequest(previous="   ", n=1))
    assert rec.requests == []


# A seat of a 半歌仙 (秋・月, a 長句) after the first four verses of a bundled chain; verses
# written for these tests: one fits the seat, one is of spring, one has no moon.
AT_THE_MOON = "名月や 舟をとどめて 人を待つ"
OF_SPRING = "春風に 舟をとどめて 人を待つ"
NO_MOON = "ただ歩む 道の果てまで 人を待つ"


def _seat_chain() -> list[str]:
    from tsukeku.corpus.bundled import bundled_chains
    from tsukeku.renga.saijiki import default_path

    if not default_path().exists():
        pytest.skip("the bundled saijiki is not written yet")
    return [v.text for v in bundled_chains()[3].verses[:4]]


@pytest.mark.parametrize("mode", ["completions", "chat"])
def test_a_seat_is_named_in_the_prompt_and_filters_the_candidates(server, mode):
    """A session's model turn through a remote backend honours the seat as the local composer
    does: the prompt names the seat's season and topics, and only candidates that pass the
    seat's checks come back (sampled again, round after round, until enough or 4 rounds)."""
    from tsukeku.generation.types import SeatSpec

    rec, url = server
    chain = _seat_chain()
    rec.answers = [AT_THE_MOON, OF_SPRING, NO_MOON]
    backend = OpenAIBackend("remote", base_url=url, model="m", mode=mode)
    request = ComposeRequest(previous=chain, n=2, form="5-7-5", seat=SeatSpec(profile="半歌仙"))
    result = backend.compose(request)
    assert [c.text for c in result.candidates] == [AT_THE_MOON]
    assert result.seat["season"] == "秋" and result.seat["topics"] == ["月"]
    assert result.previous == chain
    assert any("filtered by the seat checks" in n for n in result.notes)
    assert any("only 1 candidate" in n for n in result.notes)
    assert len(rec.requests) == backend.seat_rounds  # never enough: every round was asked
    for sent in rec.requests:
        prompt = sent["prompt"] if mode == "completions" else sent["messages"][1]["content"]
        assert "座：秋・月" in prompt and chain[-1] in prompt
    if mode == "chat":
        assert "月を詠み込む" in rec.requests[0]["messages"][1]["content"]


def test_without_a_seat_nothing_changes(server):
    rec, url = server
    rec.answers = [SHORT_OK]
    backend = OpenAIBackend("remote", base_url=url, model="m", mode="completions")
    result = backend.compose(ComposeRequest(previous=LONG_PREVIOUS, n=1))
    assert "座" not in rec.requests[0]["prompt"] and len(rec.requests) == 1
    assert result.seat is None and "seat" not in result.to_dict()


def test_compose_for_seat_filters_a_remote_backend_once(server):
    """compose_for_seat leaves the seat to the backend: the rounds are not multiplied."""
    from tsukeku.generation.seat_compose import compose_for_seat

    rec, url = server
    chain = _seat_chain()
    rec.answers = [AT_THE_MOON, OF_SPRING, NO_MOON]
    backend = OpenAIBackend("remote", base_url=url, model="m", mode="completions")
    result = compose_for_seat(backend, chain, n=2, profile="半歌仙")
    assert [c.text for c in result.candidates] == [AT_THE_MOON]
    assert len(rec.requests) == backend.seat_rounds
    assert "座：秋・月" in rec.requests[0]["prompt"]
    assert sum("filtered by the seat checks" in n for n in result.notes) == 1
