"""Whose turn it is and what the next seat asks, from a session record alone (no I/O).

The seat's requirement in words (「秋・月の座 — 長句」), its season and topics come from
`tsukeku.renga.seat` (it knows season runs and 去嫌).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from tsukeku.corpus.model import KIND_FORM
from tsukeku.renga.profiles import Profile, load_profile
from tsukeku.renga.seat import next_seat

# The profile each form of session plays by unless another is named.
FORMS = ("歌仙", "半歌仙")


@dataclass(frozen=True, slots=True)
class SeatInfo:
    seat: int  # 1-based
    kind: str  # 長句 / 短句
    form: str  # 5-7-5 / 7-7
    section: str  # 表, 裏, 名残の表 …
    description: str  # in words, for the page and the terminal
    season: str | None  # what the seat asks, when known
    topics: tuple[str, ...]  # topics it must carry (月, 花)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "topics": list(self.topics)}


def kind_of_seat(seat: int) -> str:
    """A 歌仙 or 半歌仙 starts with a 長句 and alternates."""
    return "長句" if seat % 2 == 1 else "短句"


def profile_of(record: Any) -> Profile:
    return load_profile(record.profile)


def seat_info(record: Any) -> SeatInfo | None:
    """The next seat of a session, or None when the chain is complete."""
    prof = profile_of(record)
    seat = len(record.verses) + 1
    if seat > prof.length:
        return None
    kind = kind_of_seat(seat)
    section = prof.section_name(seat)
    s = next_seat([_verse_map(v) for v in record.verses], prof)
    return SeatInfo(seat, kind, KIND_FORM[kind], section, s.describe(), s.season, s.topics)


def _verse_map(v: Any) -> dict[str, Any]:
    return {"text": v.text, "kind": v.kind, "season": v.season, "topics": list(v.topics)}


def whose_turn(record: Any) -> Any | None:
    """The participant whose turn it is (rotation), or None: 出勝 (anyone), or the chain is over
    or closed."""
    if record.status != "open" or len(record.verses) >= profile_of(record).length:
        return None
    if record.turn_order != "rotation" or not record.participants:
        return None
    order = sorted(record.participants, key=lambda p: p.position)
    return order[len(record.verses) % len(order)]
