"""Request shapes of the OpenAI-compatible API. Fields that change nothing here (user, stop,
penalties) are accepted and ignored so that stock clients work; fields we cannot honour
(logprobs, echo, tools …) are rejected rather than silently dropped. tsukeku's own parameters
(`form`, `constrained`, `top_k`, `adapter`, `jiamari`) ride along (the openai client's `extra_body`).
Every limit is the one of `ComposeRequest` (same annotated types); `options()` maps the OpenAI
names onto it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tsukeku.generation.types import (
    MAX_CANDIDATES,
    MAX_CHAIN,
    AdapterName,
    Candidates,
    ComposeOptions,
    FormName,
    NewTokens,
    Seed,
    Temperature,
    TopK,
    TopP,
    Verse,
)

DEFAULTS = ComposeOptions()
# Options whose name and meaning are the same in both APIs.
SHARED = {"n", "temperature", "top_p", "seed", "form", "constrained", "top_k", "adapter", "jiamari"}


class _OpenAIParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, description="a name from GET /v1/models; default: the first")
    n: Candidates = 1
    temperature: Temperature = DEFAULTS.temperature
    top_p: TopP = DEFAULTS.top_p
    max_tokens: NewTokens | None = None
    seed: Seed | None = None
    stream: bool = False
    # accepted, no effect: a verse ends where its form ends
    user: str | None = None
    stop: str | list[str] | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    stream_options: dict[str, Any] | None = None
    # tsukeku's own
    form: FormName = DEFAULTS.form
    constrained: bool = DEFAULTS.constrained
    top_k: TopK = DEFAULTS.top_k
    adapter: AdapterName | None = None
    jiamari: bool = DEFAULTS.jiamari

    def max_new_tokens(self) -> int | None:
        return self.max_tokens

    def options(self) -> ComposeOptions:
        """The request's options (without the 前句), in ComposeRequest's names."""
        return ComposeOptions(
            **self.model_dump(include=SHARED),
            max_new_tokens=self.max_new_tokens() or DEFAULTS.max_new_tokens,
        )


class CompletionRequest(_OpenAIParameters):
    """`POST /v1/completions`: the prompt is the 前句 (a list: one composition per prompt)."""

    prompt: Verse | Annotated[list[Verse], Field(min_length=1, max_length=MAX_CANDIDATES)]


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = None
    name: str | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text for p in self.content)
        return self.content or ""


class ChatCompletionRequest(_OpenAIParameters):
    """`POST /v1/chat/completions`: the user and assistant messages, in order, are the chain
    so far (oldest first); the last one must be the user's 前句. System messages are ignored."""

    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_CHAIN)
    max_completion_tokens: NewTokens | None = None

    def max_new_tokens(self) -> int | None:
        return self.max_tokens if self.max_tokens is not None else self.max_completion_tokens
