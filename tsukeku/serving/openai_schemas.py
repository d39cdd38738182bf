"""Request shapes of the OpenAI-compatible API. Fields that change nothing here (user, stop,
penalties) are accepted and ignored so that stock clients work; fields we cannot honour
(logprobs, echo, tools …) are rejected rather than silently dropped. tsukeku's own parameters
(`form`, `constrained`, `top_k`, `adapter`, `jiamari`) ride along (the openai client's `extra_body`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tsukeku.generation.types import ComposeRequest
from tsukeku.serving.schemas import MAX_CHAIN, ComposeParameters, FormName, Verse
from tsukeku.serving.settings import MAX_CANDIDATES


class _OpenAIParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, description="a name from GET /v1/models; default: the first")
    n: int = Field(1, ge=1, le=MAX_CANDIDATES)
    temperature: float = Field(ComposeRequest.temperature, gt=0, le=2)
    top_p: float = Field(ComposeRequest.top_p, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1, le=256)
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    stream: bool = False
    # accepted, no effect: a verse ends where its form ends
    user: str | None = None
    stop: str | list[str] | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    stream_options: dict[str, Any] | None = None
    # tsukeku's own
    form: FormName = ComposeRequest.form
    constrained: bool = ComposeRequest.constrained
    top_k: int = Field(ComposeRequest.top_k, ge=0, le=1000)
    adapter: str | None = Field(None, max_length=200)
    jiamari: bool = ComposeRequest.jiamari

    def parameters(self) -> ComposeParameters:
        return ComposeParameters(
            n=self.n,
            model=self.model,
            form=self.form,
            constrained=self.constrained,
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            max_new_tokens=self.max_tokens or ComposeRequest.max_new_tokens,
            seed=self.seed,
            adapter=self.adapter,
            jiamari=self.jiamari,
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
    max_completion_tokens: int | None = Field(None, ge=1, le=256)

    def parameters(self) -> ComposeParameters:
        params = super().parameters()
        if self.max_completion_tokens is not None and self.max_tokens is None:
            params.max_new_tokens = self.max_completion_tokens
        return params
