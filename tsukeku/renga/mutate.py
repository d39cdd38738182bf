"""Deliberately broken chains, made from clean ones, each breaking one rule: the checker's
acceptance suite (tests/renga) and the recall figure of `make bench-renga`.

Each mutation edits verse records (dicts as in the corpus) and names the rule it breaks and the
severity the checker must give. Labels are set explicitly where a mutation changes what a verse
is about (a non-empty `topics` replaces inference), so the break does not depend on how well the
classifier reads the new text."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from tsukeku.corpus.model import Chain
from tsukeku.renga.profiles import load_profile

Verses = list[dict[str, Any]]


@dataclass(frozen=True)
class Broken:
    name: str  # chain id + mutation
    form: str
    rule: str
    severity: str
    verses: Verses


def _topics(v: dict[str, Any]) -> list[str]:
    from tsukeku.renga.classify import classify

    return list(classify(v).topics)


def _set_topics(v: dict[str, Any], topics: list[str]) -> None:
    v["topics"] = topics or ["人倫"]  # an empty list would read as "not labelled"


def _without(vs: Verses, i: int, topic: str) -> None:
    _set_topics(vs[i], [t for t in _topics(vs[i]) if t != topic])


def _with(vs: Verses, i: int, topic: str) -> None:
    _set_topics(vs[i], [*_topics(vs[i]), topic])


def _has(vs: Verses, i: int, topic: str) -> bool:
    return topic in _topics(vs[i])


def mutations(form: str) -> list[tuple[str, str, str, Callable[[Verses], Verses | None]]]:
    """(name, rule, severity, edit) — edit returns the broken verses, or None where the chain
    has no place for this break."""
    prof = load_profile(form)
    out: list[tuple[str, str, str, Callable[[Verses], Verses | None]]] = []

    def length(vs: Verses) -> Verses | None:
        extra = copy.deepcopy(vs[-2:])
        return vs + extra if len(vs) == prof.length else None

    def alternation(vs: Verses) -> Verses | None:
        vs[2] = copy.deepcopy(vs[3])  # a 短句 where the 第三 (a 長句) stands
        return vs

    def hokku_season(vs: Verses) -> Verses | None:
        vs[0]["season"] = "雑"
        return vs

    def hokku_kireji(vs: Verses) -> Verses | None:
        vs[0] = {
            "text": "朝風に 庭の草木の 揺れてゐる",
            "kind": "長句",
            "season": vs[0]["season"],
            "topics": ["植物"],
        }
        return vs

    def waki_season(vs: Verses) -> Verses | None:
        other = {"春": "秋", "秋": "春", "夏": "冬", "冬": "夏"}[vs[0]["season"]]
        vs[1]["season"] = other
        return vs

    def run_too_long(vs: Verses) -> Verses | None:
        start = prof.omote + 1  # a summer run across the whole start of the 裏
        for i in range(start - 1, start + 4):
            vs[i]["season"] = "夏"
        return vs

    def run_too_short(vs: Verses) -> Verses | None:
        seasons = [v["season"] for v in vs]
        for i in range(len(vs) - 3):
            s = seasons[i]
            if s in ("春", "秋") and (i == 0 or seasons[i - 1] != s):
                j = i
                while j + 1 < len(vs) and seasons[j + 1] == s:
                    j += 1
                if j - i + 1 == 3 and j < len(vs) - 1:
                    vs[j]["season"] = "雑"  # cut a three-verse run to two
                    return vs
        return None

    def moon_missing(vs: Verses) -> Verses | None:
        a, b = prof.section_of(prof.moon_seats[0]) or (1, 1)
        for i in range(a - 1, b):
            if _has(vs, i, "月"):
                _without(vs, i, "月")
        return vs

    def moon_later(vs: Verses) -> Verses | None:
        seat = prof.moon_seats[0]
        a, b = prof.section_of(seat) or (1, 1)
        for i in range(a - 1, b):
            if _has(vs, i, "月"):
                _without(vs, i, "月")
        _with(vs, b - 1, "月")  # the moon at the end of its section, after its seat
        return vs

    def blossom_missing(vs: Verses) -> Verses | None:
        seat = prof.blossom_seats[0]
        a, b = prof.section_of(seat) or (1, 1)
        for i in range(a - 1, min(b, len(vs))):
            if _has(vs, i, "花"):
                _without(vs, i, "花")
        return vs

    def omote_love(vs: Verses) -> Verses | None:
        _with(vs, 2, "恋")
        return vs

    def uchikoshi(vs: Verses) -> Verses | None:
        for i in range(prof.omote + 2, len(vs) - 2):
            if not any(_has(vs, k, "衣類") for k in range(i - 4, min(i + 7, len(vs)))):
                _with(vs, i, "衣類")
                _with(vs, i + 2, "衣類")
                return vs
        return None

    def sarikirai_moon(vs: Verses) -> Verses | None:
        moons = [i for i in range(len(vs)) if _has(vs, i, "月")]
        for m in moons:
            j = m + 3  # two verses between: 月 returns long before its seven
            if j < len(vs) and not _has(vs, j - 1, "月") and not _has(vs, j - 2, "月"):
                _with(vs, j, "月")
                return vs
        return None

    def ageku(vs: Verses) -> Verses | None:
        if len(vs) != prof.length:
            return None
        vs[-1]["season"] = "夏"
        return vs

    out += [
        ("length", "length", "error", length),
        ("alternation", "alternation", "error", alternation),
        ("hokku_season", "hokku_season", "error", hokku_season),
        ("hokku_kireji", "hokku_kireji", "warning", hokku_kireji),
        ("waki_season", "waki_season", "error", waki_season),
        ("season_run_long", "season_run", "error", run_too_long),
        ("season_run_short", "season_run", "error", run_too_short),
        ("moon_missing", "moon_seat", "error", moon_missing),
        ("moon_later", "moon_seat", "warning", moon_later),
        ("blossom_missing", "blossom_seat", "error", blossom_missing),
        ("omote_taboo", "omote_taboo", "error", omote_love),
        ("uchikoshi", "uchikoshi", "error", uchikoshi),
        ("sarikirai_moon", "sarikirai", "error", sarikirai_moon),
        ("ageku", "ageku", "warning", ageku),
    ]
    return out


def broken_chains(chains: list[tuple[str, str, Verses]]) -> Iterator[Broken]:
    """Every mutation that applies to each (id, form, verses) chain."""
    for cid, form, verses in chains:
        for name, rule, severity, edit in mutations(form):
            result = edit(copy.deepcopy(verses))
            if result is not None:
                yield Broken(f"{cid}:{name}", form, rule, severity, result)


def clean_chains(chains: Iterable[Chain]) -> list[tuple[str, str, Verses]]:
    """(id, form, verse dicts) of the 歌仙 and 半歌仙 among `chains` (the clean side of the
    suite: the bundled chains, `tsukeku.corpus.bundled.bundled_chains()`)."""
    return [
        (c.id, c.form, [v.to_json() for v in c.verses])
        for c in chains
        if c.form in ("歌仙", "半歌仙")
    ]
