"""A judge model (optional): a chat model from the models file scores how each 付句 links.

For every test 前句 the judge sees the best candidate of each compared model and the held-out
reference 付句 ("reference"), and
- scores each on a short rubric, 1–5: 付き (does it respond to the 前句: its words, scene or
  feeling) and, when the 前句 has a verse before it, 転じ (does it move away from that 打越);
- picks the better of two for every pair of contestants (the order of the two is drawn per
  前句 with a fixed seed, so a judge that favours the first position does not favour a model).

The judge answers JSON; an answer that cannot be read is counted (`unparsed`), not guessed.
Only chat models of the OpenAI-compatible API and Amazon Bedrock can judge (a local model or a
SageMaker endpoint writes 付句, not verdicts). A judge is an opinion — one model's, prone to
its own tastes and to favouring fluent text — never a substitute for people's votes.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, ValidationError

from tsukeku.errors import ConfigError, TsukekuError

REFERENCE = "reference"
SYSTEM = ("あなたは連歌の判者です。前句と付句の付け合いを、簡潔な基準で公平に評価します。"
          "答えは指示されたJSONだけを書いてください。")
TSUKI = "付き：付句は前句の言葉・情景・心に応じているか（1 まったく応じていない … 5 よく応じている）。"
TENJI = ("転じ：付句は打越（前句のさらに前の句）の景色や趣向から離れ、新しい場面へ移っているか"
         "（1 打越に戻っている … 5 よく転じている）。")


class Scores(BaseModel):
    tsuki: int = Field(ge=1, le=5)
    tenji: int | None = Field(None, ge=1, le=5)


class Choice(BaseModel):
    better: Literal["A", "B", "tie"]


def score_prompt(previous: str, candidate: str, uchikoshi: str | None) -> str:
    lines = [f"打越：{uchikoshi}"] if uchikoshi else []
    lines += [f"前句：{previous}", f"付句：{candidate}", "",
              "次の基準で、それぞれ1から5の整数で採点してください。", TSUKI]
    if uchikoshi:
        lines += [TENJI, '答えはJSONだけで {"tsuki": 整数, "tenji": 整数, "reason": "一文"} と'
                         "書いてください。"]
    else:
        lines.append('答えはJSONだけで {"tsuki": 整数, "reason": "一文"} と書いてください。')
    return "\n".join(lines)


def pair_prompt(previous: str, a: str, b: str, uchikoshi: str | None) -> str:
    lines = [f"打越：{uchikoshi}"] if uchikoshi else []
    lines += [f"前句：{previous}", f"付句A：{a}", f"付句B：{b}", "", TSUKI]
    if uchikoshi:
        lines.append(TENJI)
    lines.append("これらを合わせて、この前句への付句としてより優れているのはどちらですか。"
                 '答えはJSONだけで {"better": "A" または "B" または "tie", "reason": "一文"} '
                 "と書いてください。")
    return "\n".join(lines)


_OBJECT = re.compile(r"\{.*?\}", re.DOTALL)


def parse(text: str, model: type[BaseModel]) -> BaseModel | None:
    """The first JSON object of `text` that validates as `model` (None when there is none)."""
    for found in _OBJECT.findall(text or ""):
        try:
            return model.model_validate(json.loads(found))
        except (ValueError, ValidationError):
            continue
    return None


def asker(backend: Any, *, max_tokens: int = 300) -> Callable[[str, str], str]:
    """(system, user) → the judge's answer text, through the backend's own client."""
    from tsukeku.backends.base import guarded
    from tsukeku.backends.bedrock import BedrockBackend
    from tsukeku.backends.openai_backend import OpenAIBackend

    if isinstance(backend, OpenAIBackend):
        def translate(err: Exception) -> str | None:
            import openai

            return str(err) if isinstance(err, openai.OpenAIError) else None

        def ask_openai(system: str, user: str) -> str:
            answer = guarded(f"judge {backend.model} at {backend.base_url}",
                             lambda: backend.client.chat.completions.create(
                                 model=backend.model, temperature=0.0, max_tokens=max_tokens,
                                 messages=[{"role": "system", "content": system},
                                           {"role": "user", "content": user}]), translate)
            return (answer.choices[0].message.content or "") if answer.choices else ""
        return ask_openai
    if isinstance(backend, BedrockBackend):
        from tsukeku.backends import aws

        def ask_bedrock(system: str, user: str) -> str:
            answer = guarded(f"judge {backend.model_id} on Bedrock",
                             lambda: backend.client.converse(
                                 modelId=backend.model_id, system=[{"text": system}],
                                 messages=[{"role": "user", "content": [{"text": user}]}],
                                 inferenceConfig={"maxTokens": max_tokens, "temperature": 0.0}),
                             aws.translate)
            blocks = ((answer or {}).get("output", {}).get("message", {}).get("content", []))
            return "\n".join(b.get("text", "") for b in blocks)
        return ask_bedrock
    raise ConfigError(f"the judge must be a chat model of kind openai or bedrock in the models "
                      f"file; {getattr(backend, 'name', backend)!r} is a "
                      f"{type(backend).__name__}")


def judge(ask: Callable[[str, str], str], records: Sequence[dict[str, Any]],
          answers: dict[str, Sequence[str | None]], *, seed: int = 0,
          on_step: Callable[[], None] | None = None) -> dict[str, Any]:
    """`answers`: each model's best 付句 per record (None: it returned none). The reference is
    added as one more contestant. Returns report.json's `judge` (without the judge's name)."""
    contestants = {**answers, REFERENCE: [r["next"] for r in records]}
    scores: dict[str, dict[str, list[int]]] = {c: {"tsuki": [], "tenji": []} for c in contestants}
    unparsed = dict.fromkeys(contestants, 0)
    pairs = {(a, b): {"a_wins": 0.0, "b_wins": 0.0, "ties": 0, "unparsed": 0}
             for a, b in itertools.combinations(contestants, 2)}
    errors: list[str] = []
    for i, rec in enumerate(records):
        context = rec.get("context") or []
        uchikoshi = context[-1] if context else None
        rng = np.random.default_rng([seed, i])
        try:
            for name, texts in contestants.items():
                if not texts[i]:
                    continue
                got = parse(ask(SYSTEM, score_prompt(rec["previous"], texts[i], uchikoshi)), Scores)
                if got is None:
                    unparsed[name] += 1
                    continue
                scores[name]["tsuki"].append(got.tsuki)
                if uchikoshi and got.tenji is not None:
                    scores[name]["tenji"].append(got.tenji)
            for (a, b), tally in pairs.items():
                ta, tb = contestants[a][i], contestants[b][i]
                if not ta or not tb:
                    continue
                swap = bool(rng.integers(2))
                first, second = (tb, ta) if swap else (ta, tb)
                got = parse(ask(SYSTEM, pair_prompt(rec["previous"], first, second, uchikoshi)),
                            Choice)
                if got is None:
                    tally["unparsed"] += 1
                elif got.better == "tie":
                    tally["ties"] += 1
                else:
                    a_won = (got.better == "A") != swap
                    tally["a_wins" if a_won else "b_wins"] += 1
        except TsukekuError as err:  # a failing call (timeout …) costs one 前句, not the report
            errors.append(f"{rec.get('id', i)}: {err}")
        if on_step:
            on_step()

    def mean(values: list[int]) -> float | None:
        return float(np.mean(values)) if values else None

    return {
        "items": len(records), "seed": seed,
        "scores": {c: {"tsuki": mean(s["tsuki"]), "tenji": mean(s["tenji"]),
                       "scored": len(s["tsuki"]), "tenji_scored": len(s["tenji"]),
                       "unparsed": unparsed[c]} for c, s in scores.items()},
        "pairs": [{"a": a, "b": b, **t,
                   "a_win_rate": ((t["a_wins"] + t["ties"] / 2)
                                  / (t["a_wins"] + t["b_wins"] + t["ties"])
                                  if t["a_wins"] + t["b_wins"] + t["ties"] else None)}
                  for (a, b), t in pairs.items()],
        "errors": len(errors), "error_examples": errors[:5],
    }
