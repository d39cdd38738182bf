"""Records shared by the composer, every backend, serving and evaluation.

They are plain dataclasses so that any layer can build or read them without importing torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass
class ComposeRequest:
    """One request for 付句: `previous` is the 前句, or the chain so far (oldest first)."""

    previous: str | list[str]
    n: int = 5
    form: str = "auto"  # the 付句's form: "auto" (the other form of the 前句), "5-7-5" or "7-7"
    constrained: bool = True
    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 0
    max_new_tokens: int = 48
    seed: int | None = None
    adapter: str | None = None  # for local backends holding several adapters on one base
    jiamari: bool = False  # constrained decoding may add one mora (字余り) to each ku

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

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["candidates"] = [c.to_dict() for c in self.candidates]
        return out


@runtime_checkable
class Backend(Protocol):
    """Anything that can answer a 前句: a local HF model, an OpenAI-compatible server,
    a SageMaker endpoint, Bedrock."""

    name: str
    supports_constraints: bool  # token-level mora constraints (local models only)

    def compose(self, request: ComposeRequest) -> CompositionResult: ...

    def compose_many(self, requests: list[ComposeRequest]) -> list[CompositionResult]: ...
