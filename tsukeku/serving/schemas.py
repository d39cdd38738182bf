"""Request and response shapes of the SageMaker-style API. The limits are not here: they are
the fields of `tsukeku.generation.types.ComposeRequest` (the one request model, shared with the
CLI and the composer); these shapes only wrap it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tsukeku.generation.types import (
    MAX_CHAIN,
    MAX_VERSE_CHARS,
    ComposeOptions,
    CompositionResult,
    FormName,
    Previous,
    Verse,
)

__all__ = ["MAX_CHAIN", "MAX_VERSE_CHARS", "ComposeParameters", "FormName", "InvocationRequest",
           "Previous", "Verse"]


class ComposeParameters(ComposeOptions):
    """Generation parameters (all optional): the request's options plus the model to ask."""

    model: str | None = Field(None, description="a name from GET /v1/models; default: the first")


class InvocationRequest(BaseModel):
    """`POST /invocations` body. A bare JSON string, or a text/plain body, is the 前句 alone."""

    model_config = ConfigDict(extra="forbid")

    inputs: Previous = Field(description="the 前句, or the chain so far (oldest first)")
    parameters: ComposeParameters = Field(default_factory=ComposeParameters)


class CandidateOut(BaseModel):
    text: str
    reading: str
    ku_morae: list[int]
    ok: bool
    score: float
    deviations: list[dict[str, Any]] = []
    logprob: float | None = None


class InvocationResponse(BaseModel):
    previous: str | list[str]
    form: str
    candidates: list[CandidateOut]
    model: str
    constrained: bool
    notes: list[str] = []
    latency_ms: float


class ErrorDetail(BaseModel):
    type: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": description}
    for code, description in {
        400: "malformed JSON or undecodable text",
        401: "missing or wrong API key (when the server has one)",
        413: "body over the payload limit (6 MiB)",
        415: "unsupported content type",
        422: "invalid parameters (n, model, form, temperature …)",
        429: "the model's queue is full; see Retry-After",
        502: "a remote model service behind this server failed",
        503: "models loading or server shutting down; see Retry-After",
        504: "generation took longer than the server's timeout",
    }.items()
}


def invocation_response(result: CompositionResult) -> dict[str, Any]:
    out = result.to_dict()
    return InvocationResponse.model_validate(out).model_dump()
