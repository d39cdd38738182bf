"""Request and response shapes of the SageMaker-style API, and the one validation of composition
parameters that every route (and the web page's routes, through the service) goes through."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from tsukeku.generation.types import ComposeRequest, CompositionResult
from tsukeku.serving.errors import InvalidRequest
from tsukeku.serving.settings import MAX_CANDIDATES

MAX_VERSE_CHARS = 200
MAX_CHAIN = 100

def _readable(text: str) -> str:
    """The prosody module's own check (control characters, only punctuation …), so a 前句 a local
    model would refuse is refused at the edge for remote models too."""
    from tsukeku.errors import InputError
    from tsukeku.prosody.reading import validate

    try:
        validate(text)
    except InputError as err:
        raise ValueError(str(err)) from None
    return text


Verse = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_VERSE_CHARS),
    AfterValidator(_readable),
]
Previous = Verse | Annotated[list[Verse], Field(min_length=1, max_length=MAX_CHAIN)]
FormName = Literal["auto", "5-7-5", "7-7"]


class ComposeParameters(BaseModel):
    """Generation parameters (all optional). Unknown names are rejected, so typos do not pass
    silently."""

    model_config = ConfigDict(extra="forbid")

    n: int = Field(ComposeRequest.n, ge=1, le=MAX_CANDIDATES, description="candidates to return")
    model: str | None = Field(None, description="a name from GET /v1/models; default: the first")
    form: FormName = Field(
        ComposeRequest.form, description="the 付句's form; auto = the other form of the 前句"
    )
    constrained: bool = Field(
        ComposeRequest.constrained, description="mora-constrained decoding (local models)"
    )
    temperature: float = Field(ComposeRequest.temperature, gt=0, le=2)
    top_p: float = Field(ComposeRequest.top_p, gt=0, le=1)
    top_k: int = Field(ComposeRequest.top_k, ge=0, le=1000)
    max_new_tokens: int = Field(ComposeRequest.max_new_tokens, ge=1, le=256)
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    adapter: str | None = Field(None, max_length=200, description="a named adapter of the model")
    jiamari: bool = Field(
        ComposeRequest.jiamari, description="allow one extra mora (字余り) in each ku"
    )

    def to_request(self, previous: str | list[str]) -> ComposeRequest:
        return ComposeRequest(
            previous=previous,
            n=self.n,
            form=self.form,
            constrained=self.constrained,
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            max_new_tokens=self.max_new_tokens,
            seed=self.seed,
            adapter=self.adapter,
            jiamari=self.jiamari,
        )


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


def describe_validation_error(err: ValidationError, prefix: str = "") -> str:
    parts = []
    for e in err.errors()[:5]:
        where = ".".join(str(p) for p in (prefix, *e["loc"]) if p != "")
        parts.append(f"{where}: {e['msg']}" if where else e["msg"])
    more = len(err.errors()) - 5
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def validate_compose_request(request: ComposeRequest) -> None:
    """Checks a ComposeRequest built by any route against the same limits as the HTTP API."""
    fields = {k: getattr(request, k) for k in ComposeParameters.model_fields if k != "model"}
    try:
        ComposeParameters.model_validate(fields)
        InvocationRequest.model_validate({"inputs": request.previous})
    except ValidationError as err:
        raise InvalidRequest(describe_validation_error(err)) from None


def invocation_response(result: CompositionResult) -> dict[str, Any]:
    out = result.to_dict()
    return InvocationResponse.model_validate(out).model_dump()
