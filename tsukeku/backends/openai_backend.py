"""OpenAI-compatible HTTP backend (OpenAI, vLLM, Ollama, our own server) through the `openai`
client.

- `mode: completions` sends the prompt template's text (the `completion` template unless the
  models file names another) and reads each choice up to the end marker — for base models
  served by vLLM, fine-tuned with our template.
- `mode: chat` sends a Japanese system prompt and the 前句 as the user turn, one verse per
  choice (`n`); servers that ignore `n` (Ollama) are asked again until enough are in.

Both sample more candidates than asked (`oversample`) because our form check filters them.
For a seat of a renga session both prompts name it (the template's `render(seat=)`, a 座 line in
the chat turn) and the seat's checks filter the candidates (RemoteBackend.compose).
"""

from __future__ import annotations

import os
import time
from typing import Any

from tsukeku.backends.base import (
    SYSTEM_PROMPT,
    RemoteBackend,
    guarded,
    prepare,
    result_from_texts,
    samples_for,
    split_lines,
    user_prompt,
)
from tsukeku.errors import ConfigError
from tsukeku.generation.rerank import Reranker
from tsukeku.generation.types import ComposeRequest, CompositionResult

MODES = ("chat", "completions")


class OpenAIBackend(RemoteBackend):
    def __init__(self, name: str, *, base_url: str | None, model: str, mode: str = "chat",
                 api_key: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 template: Any = None, system: str | None = None, timeout: float = 60.0,
                 max_retries: int = 1, oversample: float = 2.0, max_tokens: int = 64,
                 logprobs: bool = True, reranker: Reranker | None = None):
        if mode not in MODES:
            raise ConfigError(f"OpenAI backend {name!r}: mode must be chat or completions, "
                              f"not {mode!r}")
        import openai

        self.name = name
        self.model = model
        self.mode = mode
        self.base_url = base_url or "https://api.openai.com/v1"
        self.system = system or SYSTEM_PROMPT
        self.oversample = oversample
        self.max_tokens = max_tokens
        self.logprobs = logprobs  # completions: ask for token log-probabilities (reranking)
        self.reranker = reranker or Reranker()
        key = api_key or os.environ.get(api_key_env) or "EMPTY"  # vLLM/Ollama accept any key
        self.client = openai.OpenAI(base_url=self.base_url, api_key=key, timeout=timeout,
                                    max_retries=max_retries)
        from tsukeku.prompts import PromptTemplate, get_template, resolve_template

        if isinstance(template, PromptTemplate):
            self.template = template
        elif template:
            self.template = resolve_template(template, None)
        else:
            self.template = get_template("completion")

    def sample(self, request: ComposeRequest) -> CompositionResult:
        started = time.perf_counter()
        prepared = prepare(request)
        wanted = samples_for(request, self.oversample)
        if self.mode == "completions":
            texts, logprobs, counts = self._completions(prepared, wanted)
        else:
            texts, logprobs, counts = self._chat(prepared, wanted), None, None
        return result_from_texts(
            prepared, texts, model=self.name, reranker=self.reranker, started=started,
            notes=[f"OpenAI-compatible {self.mode} API at {self.base_url}, model {self.model}"],
            logprobs=logprobs, token_counts=counts,
        )

    def _sampling(self, request: ComposeRequest) -> dict[str, Any]:
        args: dict[str, Any] = {"temperature": request.temperature, "top_p": request.top_p,
                                "max_tokens": max(self.max_tokens, request.max_new_tokens)}
        if request.seed is not None:
            args["seed"] = request.seed
        return args

    def _completions(self, prepared, wanted: int):
        req = prepared.request
        prompt = self.template.render(prepared.previous, prepared.form, prepared.context,
                                      seat=prepared.seat)
        stops = [s for s in [self.template.end, *self.template.stops] if s][:4]  # OpenAI: ≤ 4
        texts: list[str] = []
        logprobs: list[float | None] = []
        counts: list[int] = []
        for _ in range(wanted):  # a server that ignores n answers one at a time
            answer = self._call(lambda n=wanted - len(texts): self.client.completions.create(
                model=self.model, prompt=prompt, n=n, stop=stops,
                **({"logprobs": 1} if self.logprobs else {}), **self._sampling(req)))
            for choice in answer.choices:
                texts.append(self.template.parse(choice.text or ""))
                lp = getattr(choice, "logprobs", None)
                tokens = list(getattr(lp, "token_logprobs", None) or []) if lp else []
                values = [v for v in tokens if v is not None]
                logprobs.append(sum(values) if values else None)
                counts.append(len(values))
            if len(texts) >= wanted or not answer.choices:
                break
        return texts[:wanted], logprobs[:wanted], counts[:wanted]

    def _chat(self, prepared, wanted: int) -> list[str]:
        req = prepared.request
        messages = [
            {"role": "system", "content": self.system},
            {"role": "user", "content": user_prompt(prepared.previous, prepared.form,
                                                    prepared.context, seat=prepared.seat)},
        ]
        texts: list[str] = []
        for _ in range(wanted):
            answer = self._call(lambda n=wanted - len(texts): self.client.chat.completions.create(
                model=self.model, messages=messages, n=n, **self._sampling(req)))
            for choice in answer.choices:
                lines = split_lines(choice.message.content or "")
                texts.append(lines[0] if lines else "")
            if len(texts) >= wanted or not answer.choices:
                break
        return texts[:wanted]

    def _call(self, fn):
        return guarded(f"OpenAI-compatible server {self.base_url} (model {self.model})", fn,
                       _translate)


def _translate(err: Exception) -> str | None:
    import openai

    if isinstance(err, openai.APITimeoutError):
        return "timed out; raise `timeout` in the models file or check the server's load"
    if isinstance(err, openai.APIConnectionError):
        return "cannot connect; is the server running and is base_url right?"
    if isinstance(err, openai.AuthenticationError):
        return "the API key was rejected; set api_key (or the variable named by api_key_env)"
    if isinstance(err, openai.NotFoundError):
        return f"not found (HTTP 404): check the model name and base_url ({_message(err)})"
    if isinstance(err, openai.RateLimitError):
        return f"rate limited (HTTP 429): {_message(err)}"
    if isinstance(err, openai.APIStatusError):
        return f"HTTP {err.status_code}: {_message(err)}"
    if isinstance(err, openai.OpenAIError):
        return str(err)
    return None


def _message(err: Exception) -> str:
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return str(getattr(err, "message", err))
