"""The store's records: frozen dataclasses, the same whichever database holds them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

WINNERS = ("a", "b", "tie", "both_bad")
FORMS = ("歌仙", "半歌仙")
TURN_ORDERS = ("rotation", "degachi")
STATUSES = ("open", "finished", "ended")
PARTICIPANT_KINDS = ("human", "model")
VERSE_KINDS = ("長句", "短句")
EVENT_KINDS = ("verse", "take_back", "status", "participant")


@dataclass(frozen=True)
class Battle:
    id: str
    created_at: str
    previous: str
    model_a: str
    model_b: str
    answer_a: dict[str, Any]
    answer_b: dict[str, Any]


@dataclass(frozen=True)
class Vote:
    battle_id: str
    model_a: str
    model_b: str
    winner: str  # one of WINNERS
    created_at: str


@dataclass(frozen=True)
class Participant:
    id: int
    session_id: str
    name: str
    kind: Literal["human", "model"]
    model: str | None
    is_host: bool
    position: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SessionVerse:
    seat: int  # 1-based
    text: str
    reading: str | None
    kind: Literal["長句", "短句"]
    season: str | None
    topics: tuple[str, ...]
    author: str
    participant_id: int | None
    accepted: tuple[str, ...]  # rule ids the host accepted for this verse
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["topics"], d["accepted"] = list(self.topics), list(self.accepted)
        return d


@dataclass(frozen=True)
class SessionRecord:
    id: str
    title: str
    form: Literal["歌仙", "半歌仙"]
    profile: str
    turn_order: Literal["rotation", "degachi"]
    status: Literal["open", "finished", "ended"]
    created_at: str
    updated_at: str
    join_token: str
    host_token: str
    participants: tuple[Participant, ...] = field(default=())
    verses: tuple[SessionVerse, ...] = field(default=())

    @property
    def next_seat(self) -> int:
        return len(self.verses) + 1

    def to_dict(self, *, tokens: bool = False) -> dict[str, Any]:
        """The session as JSON; the tokens only when asked (they are secrets)."""
        d = {k: getattr(self, k) for k in
             ("id", "title", "form", "profile", "turn_order", "status", "created_at",
              "updated_at")}
        d["participants"] = [p.to_dict() for p in self.participants]
        d["verses"] = [v.to_dict() for v in self.verses]
        d["next_seat"] = self.next_seat
        if tokens:
            d["join_token"], d["host_token"] = self.join_token, self.host_token
        return d


@dataclass(frozen=True)
class SessionSummary:
    id: str
    title: str
    form: str
    status: str
    verses: int
    created_at: str
    updated_at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Event:
    id: int
    session_id: str
    kind: str  # one of EVENT_KINDS
    payload: dict[str, Any]
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
