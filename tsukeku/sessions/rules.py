"""A verse at the next seat of a session: its form (`tsukeku.prosody.check_form`) and the rules
of the session (`tsukeku.renga.check.check_candidate`), as violations a visitor can read.

Each violation is a dict: `rule` (the checker's rule id, or `form` for the mora count), `name`
(the rule's name in Japanese), `severity` (error / warning), `verses` (1-based seats), `message`
(what is wrong, from the checker) and `hint` (what to do, in plain words).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tsukeku.corpus.model import KIND_FORM
from tsukeku.errors import InputError
from tsukeku.prompts import SEASONS, clean_verse
from tsukeku.renga.check import ERROR, check, check_candidate
from tsukeku.renga.classify import classify
from tsukeku.renga.profiles import Profile

# Rule ids of the checker (and `form`) → (name, what to do), for people who are not engineers.
RULE_WORDS: dict[str, tuple[str, str]] = {
    "form": ("音数", "五七五（長句）か七七（短句）の音数に合わせましょう"),
    "length": ("句数", "この座の句数を超えています"),
    "alternation": ("長短の交互", "長句と短句を交互に付けます"),
    "hokku_season": ("発句の季", "発句には当季の季語を入れます"),
    "hokku_kireji": ("発句の切字", "発句には「や」「かな」「けり」などの切字を入れます"),
    "waki_season": ("脇の季", "脇は発句と同じ季で付けます"),
    "season_run": ("季の続き", "同じ季の句が続く数には決まりがあります（春・秋は三〜五句、夏・冬は一〜三句）"),
    "moon_seat": ("月の座", "この座では月を詠みます"),
    "blossom_seat": ("花の座", "この座では花（桜）を詠みます"),
    "omote_taboo": ("表六句の禁忌", "最初の六句では恋・無常・神祇・釈教などを避けます"),
    "uchikoshi": ("打越", "二つ前の句（打越）と同じ趣向・言葉に戻らないようにします"),
    "sarikirai": ("去嫌", "同じ題材は間をあけて使います"),
    "ageku": ("挙句", "挙句は花の季（春）で穏やかに結びます"),
}


@dataclass
class Evaluation:
    """A verse as typed, read at its seat."""

    text: str  # ku separated by one ASCII space (as the corpus stores verses)
    kind: str
    reading: str | None
    ku_morae: list[int]
    violations: list[dict[str, Any]] = field(default_factory=list)
    season: str | None = None
    topics: tuple[str, ...] = ()

    @property
    def errors(self) -> list[str]:
        """Rule ids of the error-level violations (what the host must accept)."""
        return sorted({v["rule"] for v in self.violations if v["severity"] == ERROR})

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "kind": self.kind,
            "form": KIND_FORM[self.kind],
            "reading": self.reading,
            "ku_morae": self.ku_morae,
            "season": self.season,
            "topics": list(self.topics),
            "violations": self.violations,
            "errors": self.errors,
            "ok": not self.errors,
        }


def explain(v: Any) -> dict[str, Any]:
    """A checker `Violation` (or dict) with its name and hint in words."""
    d = v.to_dict() if hasattr(v, "to_dict") else dict(v)
    name, hint = RULE_WORDS.get(d["rule"], (d["rule"], ""))
    return {**d, "name": name, "hint": hint}


def chain_of(verses: Any) -> list[dict[str, Any]]:
    """Stored verses as the checker reads them (text and kind; it classifies the text itself)."""
    return [{"text": v.text, "kind": v.kind} for v in verses]


def evaluate(verses: Any, text: str, kind: str, profile: Profile) -> Evaluation:
    """`text` as the next verse after `verses`. Unreadable text raises InputError."""
    from tsukeku.prosody import check_form

    text = clean_verse(text)
    if not text:
        raise InputError("type a verse: ku separated by spaces (5-7-5 or 7-7)")
    form = KIND_FORM[kind]
    report = check_form(text, form)
    spaced = " ".join(report.ku)
    reading = " ".join(report.readings) or None
    out = Evaluation(spaced, kind, reading, list(report.ku_morae))
    seat = len(verses) + 1
    for dev in report.deviations:
        d = dev.to_dict()
        out.violations.append(explain({
            "rule": "form", "severity": ERROR, "verses": [seat],
            "message": f"{d['index'] + 1}句目「{d['ku']}」が{d['kind']}です"
                       f"（{d['actual']}音、{d['expected']}音のはず）",
        }))
    found = check_candidate(chain_of(verses), {"text": spaced, "kind": kind}, profile.form,
                            profile=profile)
    out.violations.extend(explain(v) for v in found)
    c = classify(spaced)
    season = c.inferred_season(profile.new_year_as) if not c.season_given else c.season
    out.season = season if season in SEASONS else None
    out.topics = tuple(c.topics)
    return out


def chain_violations(verses: Any, profile: Profile) -> dict[int, list[dict[str, Any]]]:
    """Each seat's violations in the chain so far (a finished chain's closing rules included)."""
    if not verses:
        return {}
    report = check(chain_of(verses), profile.form, profile=profile)
    by_seat: dict[int, list[dict[str, Any]]] = {}
    for v in report.violations:
        for seat in v.verses:
            by_seat.setdefault(seat, []).append(explain(v))
    return by_seat
