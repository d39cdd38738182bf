"""Records shared by the composer, every backend, serving and evaluation.

`ComposeRequest` is the one request model: its fields carry the limits that the CLI, the
composer and the HTTP API (SageMaker and OpenAI shapes map onto it) all enforce. Building one
with a bad value raises `InputError`; the HTTP layer validates bodies with the same fields and
answers 422. The results are plain dataclasses. Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Annotated, Any, Literal, Protocol, runtime_checkable

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    StringConstraints,
    Tag,
    ValidationError,
    WithJsonSchema,
)

from tsukeku.errors import InputError, explain_validation

# The documented limits of a request (docs/serving.md).
MAX_CANDIDATES = 16
MAX_NEW_TOKENS = 256
MAX_VERSE_CHARS = 200
MAX_CHAIN = 100
MAX_ADAPTER_CHARS = 200


def _readable(text: str) -> str:
    """The prosody module's own check (control characters, only punctuation …), so a 前句 a local
    model would refuse is refused up front for remote models too."""
    from tsukeku.prosody.reading import validate

    try:
        validate(text)
    except InputError as err:
        raise ValueError(str(err)) from None
    return text


def _shape(value: Any) -> str | None:
    return "verse" if isinstance(value, str) else "chain" if isinstance(value, list) else None


# Emptiness is left to prosody's check (its message says what to type); the schema still says
# minLength 1 to clients.
Verse = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=MAX_VERSE_CHARS),
    AfterValidator(_readable),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": MAX_VERSE_CHARS}),
]
Previous = Annotated[
    Annotated[Verse, Tag("verse")]
    | Annotated[list[Verse], Field(min_length=1, max_length=MAX_CHAIN), Tag("chain")],
    Discriminator(_shape, custom_error_type="previous_type",
                  custom_error_message="expected a verse (text) or a list of verses"),
]
FormName = Literal["auto", "5-7-5", "7-7"]
Candidates = Annotated[int, Field(ge=1, le=MAX_CANDIDATES, description="candidates to return")]
Temperature = Annotated[float, Field(gt=0, le=2)]
TopP = Annotated[float, Field(gt=0, le=1)]
TopK = Annotated[int, Field(ge=0, le=1000, description="0: off")]
NewTokens = Annotated[int, Field(ge=1, le=MAX_NEW_TOKENS)]
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]
AdapterName = Annotated[str, Field(max_length=MAX_ADAPTER_CHARS,
                                   description="a named adapter of the model")]


class ComposeOptions(BaseModel):
    """How to compose: everything of a request but the 前句. Unknown names are rejected, so
    typos do not pass silently."""

    model_config = ConfigDict(extra="forbid")

    n: Candidates = 5
    form: FormName = Field("auto", description="the 付句's form; auto = the other form of the 前句")
    constrained: bool = Field(True, description="mora-constrained decoding (local models)")
    temperature: Temperature = 0.8
    top_p: TopP = 0.95
    top_k: TopK = 0
    max_new_tokens: NewTokens = 48
    seed: Seed | None = None
    adapter: AdapterName | None = None  # for local backends holding several adapters on one base
    jiamari: bool = Field(False, description="allow one extra mora (字余り) in each ku")

    def request(self, previous: Any) -> ComposeRequest:
        """The request for `previous` with these options."""
        return ComposeRequest(previous=previous, **self.model_dump(include=OPTION_NAMES))


OPTION_NAMES = set(ComposeOptions.model_fields)


class SeatSpec(BaseModel):
    """Compose for the next seat of a renga session: `previous` is then the whole chain so far
    (oldest first), read with this rule profile; `season` / `topics` override what the seat
    asks (tsukeku.renga.seat)."""

    model_config = ConfigDict(extra="forbid")

    profile: Literal["歌仙", "半歌仙", "百韻", "kasen", "hankasen", "hyakuin"] = "歌仙"
    season: Literal["春", "夏", "秋", "冬", "雑"] | None = None
    topics: list[Literal["月", "花"]] | None = Field(None, max_length=2)


class ComposeRequest(ComposeOptions):
    """One request for 付句: `previous` is the 前句, or the chain so far (oldest first).
    `seat`: compose the next verse of a renga session (see `SeatSpec`); in code a resolved seat
    and labelled chain can be attached instead (`tsukeku.generation.seat_compose.attach`)."""

    previous: Previous = Field(description="the 前句, or the chain so far (oldest first)")
    seat: SeatSpec | None = Field(None, description="compose for the next seat of the chain")
    _seat_job: Any = PrivateAttr(default=None)

    def __init__(self, /, **data: Any) -> None:
        # Built in code (CLI, composer, evaluation): a bad value is the user's error. Bodies
        # parsed with `model_validate` keep pydantic's ValidationError (→ 422 with locations).
        try:
            super().__init__(**data)
        except ValidationError as err:
            raise InputError(explain_validation(err)) from None

    @property
    def chain(self) -> list[str]:
        return [self.previous] if isinstance(self.previous, str) else list(self.previous)

    @property
    def last(self) -> str:
        return self.chain[-1]


@dataclass
class Candidate:
    text: str
    reading: str
    ku_morae: list[int]
    ok: bool
    deviations: list[dict[str, Any]] = field(default_factory=list)
    logprob: float | None = None  # sum over generated tokens; None for backends that don't say
    score: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CompositionResult:
    previous: str | list[str]
    form: str
    candidates: list[Candidate]
    model: str
    constrained: bool
    notes: list[str] = field(default_factory=list)
    latency_ms: float = 0.0
    seat: dict[str, Any] | None = None  # the seat composed for (Seat.to_dict), if any

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["candidates"] = [c.to_dict() for c in self.candidates]
        if self.seat is None:
            del out["seat"]  # the shape without a seat is unchanged
        return out


@runtime_checkable
class Backend(Protocol):
    """Anything that can answer a 前句: a local HF model, an OpenAI-compatible server,
    a SageMaker endpoint, Bedrock."""

    name: str
    supports_constraints: bool  # token-level mora constraints (local models only)

    def compose(self, request: ComposeRequest) -> CompositionResult: ...

    def compose_many(self, requests: list[ComposeRequest]) -> list[CompositionResult]: ...
