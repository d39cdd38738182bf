"""The judge model (optional) through the real openai and boto3 clients against local fakes."""

from __future__ import annotations

import json
import re
import time

import pytest
from fastapi import FastAPI, Request

from tests.backends.conftest import Recorder, serve
from tsukeku.backends.bedrock import BedrockBackend
from tsukeku.backends.openai_backend import OpenAIBackend
from tsukeku.errors import ConfigError
from tsukeku.evaluation import judge

MOON = "川の流れに 月の影ゆれ"
DEW = "軒端に揺るる 露の白玉"
PREVIOUS = "夕立の 過ぎて涼しき 軒の風"


def verdict(prompt: str, rec: Recorder) -> str:
    """A judge with a known taste: a 付句 with 月 in it links (付き 5), others less (2); 転じ 4;
    of two, the one with 月 is better wherever it stands; `rec.answers` overrides."""
    rec.requests.append({"prompt": prompt})
    if rec.answers:
        return rec.answers.pop(0)
    if "付句A：" in prompt:
        a = re.search(r"付句A：(.*)", prompt).group(1)
        b = re.search(r"付句B：(.*)", prompt).group(1)
        better = "A" if "月" in a and "月" not in b else "B" if "月" in b and "月" not in a else "tie"
        return f'はい。{{"better": "{better}", "reason": "月の句がよく付く"}}'
    cand = re.search(r"付句：(.*)", prompt).group(1)
    tenji = ', "tenji": 4' if "打越：" in prompt else ""
    return f'{{"tsuki": {5 if "月" in cand else 2}{tenji}, "reason": "test"}}'


def chat_app(rec: Recorder) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        assert body["messages"][0]["role"] == "system" and body["temperature"] == 0.0
        text = verdict(body["messages"][1]["content"], rec)
        return {"id": "chat-1", "object": "chat.completion", "created": int(time.time()),
                "model": body["model"], "choices": [{"index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}

    @app.post("/model/{model_id}/converse")
    async def converse(model_id: str, request: Request):
        body = json.loads(await request.body())
        text = verdict(body["messages"][0]["content"][0]["text"], rec)
        return {"output": {"message": {"role": "assistant", "content": [{"text": text}]}},
                "stopReason": "end_turn",
                "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
                "metrics": {"latencyMs": 1}}

    return app


@pytest.fixture
def fake():
    rec = Recorder()
    with serve(chat_app(rec)) as url:
        yield rec, url


RECORDS = [
    {"id": "a", "previous": PREVIOUS, "next": DEW, "context": []},
    {"id": "b", "previous": PREVIOUS, "next": DEW, "context": ["秋の夜の 長きに虫の 声ぞする"]},
    {"id": "c", "previous": PREVIOUS, "next": MOON, "context": []},
]


def test_openai_judge_scores_and_picks_regardless_of_position(fake):
    rec, url = fake
    backend = OpenAIBackend("judge", base_url=url + "/v1", model="judge-model")
    answers = {"moon": [MOON, MOON, None], "dew": [DEW, DEW, DEW]}
    out = judge.judge(judge.asker(backend), RECORDS, answers, seed=0)
    scores = out["scores"]
    assert scores["moon"]["tsuki"] == 5.0 and scores["moon"]["scored"] == 2
    assert scores["dew"]["tsuki"] == 2.0 and scores["reference"]["tsuki"] == pytest.approx(3.0)
    # 転じ only where the 前句 has a verse before it (record b)
    assert scores["moon"]["tenji"] == 4.0 and scores["moon"]["tenji_scored"] == 1
    pairs = {(p["a"], p["b"]): p for p in out["pairs"]}
    assert pairs[("moon", "dew")]["a_wins"] == 2 and pairs[("moon", "dew")]["a_win_rate"] == 1.0
    # reference (DEW, DEW, MOON) vs dew (DEW ×3): two ties, then the reference's 月 wins
    assert pairs[("dew", "reference")]["ties"] == 2 and pairs[("dew", "reference")]["b_wins"] == 1
    assert out["errors"] == 0
    # both orders were shown, so the wins above are not the judge's position
    firsts = [re.search(r"付句A：(.*)", r["prompt"]).group(1)
              for r in rec.requests if "付句A：" in r["prompt"]]
    assert MOON in firsts and DEW in firsts
    # the rubric reached the judge in Japanese
    assert any("付き：" in r["prompt"] and "転じ：" in r["prompt"] for r in rec.requests)


def test_unreadable_answers_are_counted_not_guessed(fake):
    rec, url = fake
    backend = OpenAIBackend("judge", base_url=url + "/v1", model="judge-model")
    rec.answers = ["よい付句です", '{"tsuki": 9}']  # no JSON; out of range
    out = judge.judge(judge.asker(backend), RECORDS[:1], {"m": [MOON]}, seed=0)
    assert out["scores"]["m"]["unparsed"] == 1 and out["scores"]["reference"]["unparsed"] == 1
    assert out["scores"]["m"]["tsuki"] is None


def test_bedrock_judge(fake, monkeypatch, tmp_path):
    rec, url = fake
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_EC2_METADATA_DISABLED": "true",
                       "AWS_CONFIG_FILE": str(tmp_path / "c"),
                       "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "k")}.items():
        monkeypatch.setenv(key, value)
    backend = BedrockBackend("claude", model_id="anthropic.claude-3-haiku-20240307-v1:0",
                             region="us-east-1", endpoint_url=url)
    out = judge.judge(judge.asker(backend), RECORDS[:1], {"m": [MOON]}, seed=0)
    assert out["scores"]["m"]["tsuki"] == 5.0 and out["pairs"][0]["a_wins"] == 1


def test_a_local_model_cannot_judge():
    class Local:
        name = "tuned"

    with pytest.raises(ConfigError, match="openai or bedrock"):
        judge.asker(Local())


def test_unreachable_judge_costs_the_item_not_the_report():
    backend = OpenAIBackend("judge", base_url="http://127.0.0.1:9/v1", model="m", timeout=2,
                            max_retries=0)
    out = judge.judge(judge.asker(backend), RECORDS[:2], {"m": [MOON, MOON]}, seed=0)
    assert out["errors"] == 2
    assert "judge m at http://127.0.0.1:9/v1" in out["error_examples"][0]
    assert out["scores"]["m"]["scored"] == 0


@pytest.mark.slow
def test_judge_in_the_report(fake, tiny_base, tmp_path):
    from tsukeku.backends.registry import registry_from_dict
    from tsukeku.corpus.build import build_dataset
    from tsukeku.evaluation.report import evaluate

    _, url = fake
    build_dataset(["bundled"], tmp_path / "data", seed=0)
    registry = registry_from_dict({"models": {
        "base": {"kind": "local", "base": str(tiny_base)},
        "critic": {"kind": "openai", "base_url": url + "/v1", "model": "judge-model"},
    }})
    report = evaluate(registry, ["base"], tmp_path / "data", tmp_path / "r", n=1, limit=2,
                      modes=("constrained",), quiet=True, link_distractors=0, judge="critic")
    verdicts = report["judge"]
    assert verdicts["model"] == "critic" and verdicts["items"] == 2
    assert set(verdicts["scores"]) == {"base", "reference"}
    assert verdicts["pairs"][0]["a"] == "base" and verdicts["pairs"][0]["b"] == "reference"
    md = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    assert "Judge critic: rubric scores" in md and "the better of two" in md
    with pytest.raises(ConfigError, match="nosuch"):
        evaluate(registry, ["base"], tmp_path / "data", tmp_path / "r2", n=1, limit=1,
                 quiet=True, judge="nosuch")
