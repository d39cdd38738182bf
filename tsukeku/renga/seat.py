"""What the next seat of a session asks (座の要求): from the chain so far and the rule profile,
the next verse's kind, the seasons the rules allow (and the one preferred), the topics it must
carry (月 at a moon seat, 正花 at a blossom seat) and what it must avoid (the 打越's topics and
words, 去嫌 distances, the 表六句's taboos).

It is the checker's rules read forwards: a verse of the seat's kind, in one of its seasons,
carrying its topics and none of its `avoid` topics, breaks no error-level rule at that seat
(tests/renga/test_seat_property.py holds this against `check_candidate` over the bundled
chains). Seasons are also looked ahead: a season is allowed only when the rest of the session
can still keep the season runs, the same-season distance and the moon and blossom seats (a 春
run begun at verse 17 of a 半歌仙 could not reach its three verses by the 挙句)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache
from typing import Any

from tsukeku.errors import InputError
from tsukeku.prompts import SEASONS
from tsukeku.renga.check import VerseView, view_verse
from tsukeku.renga.classify import VERSE_SEASONS, Classification
from tsukeku.renga.lexicon import lexicon_for
from tsukeku.renga.profiles import SEASON_CLASS, Profile, load_profile

# The season of the day, for the 発句's 当季 (months by the modern calendar).
_MONTH_SEASON = {
    **dict.fromkeys((3, 4, 5), "春"),
    **dict.fromkeys((6, 7, 8), "夏"),
    **dict.fromkeys((9, 10, 11), "秋"),
    **dict.fromkeys((12, 1, 2), "冬"),
}


@dataclass(frozen=True)
class Seat:
    """The requirement of one seat. `seasons` are the allowed seasons, preferred first
    (`season` is seasons[0]); `topics` must all be carried; `avoid` maps each topic the verse
    must not carry to why (error-level rules); `discouraged` (topics) and `avoid_words` (the
    打越's content words) are warning-level."""

    number: int  # 1-based
    form: str
    profile: str
    kind: str  # 長句 / 短句
    seasons: tuple[str, ...]
    topics: tuple[str, ...] = ()
    avoid: dict[str, str] = field(default_factory=dict)
    discouraged: tuple[str, ...] = ()
    avoid_words: tuple[str, ...] = ()
    name: str = "平句"  # 発句 脇 第三 平句 挙句
    section: str = ""
    notes: tuple[str, ...] = ()

    @property
    def season(self) -> str:
        return self.seasons[0]

    @property
    def avoid_topics(self) -> tuple[str, ...]:
        return tuple(self.avoid)

    def describe(self) -> str:
        """The requirement in plain Japanese for the page, e.g. 「秋・月の座 — 長句」."""
        head = self.season
        if "月" in self.topics:
            head += "・月の座"
        if "花" in self.topics:
            head += "・花の座"
        others = self.seasons[1:]
        if others:
            head += f"（{'・'.join(others)}も可）"
        if self.name != "平句":
            head = f"{self.name}・{head}"
        return f"{head} — {self.kind}"

    def with_overrides(
        self, season: str | None = None, topics: Sequence[str] | None = None
    ) -> Seat:
        """The seat with a season and/or required topics chosen by the user (`--season`,
        `--topic`): a chosen season the rules do not allow is kept, with a note saying so."""
        seat = self
        if season is not None:
            if season not in SEASONS:
                raise InputError(f"unknown season {season!r}; choose one of {' '.join(SEASONS)}")
            notes = seat.notes
            if season not in seat.seasons:
                notes = (
                    *notes,
                    f"{season} was asked for; the rules allow {'・'.join(seat.seasons)}",
                )
            seat = replace(seat, seasons=(season,), notes=notes)
        if topics is not None:
            seat = replace(seat, topics=tuple(dict.fromkeys(topics)))
        return seat

    def problems(self, verse: Classification | VerseView, kind: str | None = None) -> list[str]:
        """What a classified verse lacks for this seat (empty: it meets the requirement)."""
        v = verse if isinstance(verse, VerseView) else VerseView(kind, verse, verse.season)
        out = []
        if v.kind is not None and v.kind != self.kind:
            out.append(f"a {v.kind}, the seat asks a {self.kind}")
        if v.season not in self.seasons:
            out.append(f"season {v.season}, the seat asks {'・'.join(self.seasons)}")
        out += [f"no {t}" for t in self.topics if t not in v.c.topics]
        out += [f"{t}: {self.avoid[t]}" for t in v.c.topics if t in self.avoid]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "form": self.form,
            "profile": self.profile,
            "name": self.name,
            "section": self.section,
            "kind": self.kind,
            "season": self.season,
            "seasons": list(self.seasons),
            "topics": list(self.topics),
            "avoid": dict(self.avoid),
            "discouraged": list(self.discouraged),
            "avoid_words": list(self.avoid_words),
            "notes": list(self.notes),
            "describe": self.describe(),
        }


@lru_cache(maxsize=4)
def topic_seasons(topic: str, saijiki: str | None = None) -> tuple[str, ...]:
    """The verse seasons a word of the topic can give (月: all four; 花: the blossom's)."""
    lex = lexicon_for(saijiki)
    found = {w.season for w in (*lex.spelling.values(), *lex.kana.values()) if topic in w.topics}
    return tuple(s for s in VERSE_SEASONS if s in found)


def _profile(profile: str | Profile | None, n: int) -> Profile:
    if isinstance(profile, Profile):
        return profile
    if profile is None:
        raise InputError("name the form or rule profile of the session (歌仙, 半歌仙, 百韻)")
    return load_profile(profile)


def _name(number: int, prof: Profile) -> str:
    names = {1: "発句", 2: "脇", 3: "第三", prof.length: "挙句"}
    return names.get(number, "平句")


def _needs(prof: Profile, views: list[VerseView], topic: str, seats: list[int]) -> dict[int, bool]:
    """For each seat of the topic from the next verse on: whether its section still lacks it
    (the moon or blossom must then come at that seat)."""
    n = len(views)
    out = {}
    for seat in seats:
        sec = prof.section_of(seat)
        if sec is None or seat <= n:
            continue
        a, _ = sec
        out[seat] = not any(topic in views[i - 1].c.topics for i in range(a, n + 1))
    return out


def next_seat(
    chain: Sequence[Any],
    profile: str | Profile | None = "歌仙",
    *,
    today: date | None = None,
    saijiki: str | None = None,
) -> Seat:
    """The requirement of the seat after `chain` (texts, `Verse` records, mappings with
    `text`/`kind`/`season`/`topics`, or `Classification`s) under `profile` (a name, a form such
    as 半歌仙, or a `Profile`). `today` sets the 発句's preferred season (default: today)."""
    prof = _profile(profile, len(chain))
    views = [view_verse(v, prof, saijiki) for v in chain]
    n = len(views)
    number = n + 1
    if number > prof.length:
        raise InputError(f"the {prof.form} is complete: it has its {prof.length} verses")
    notes: list[str] = []

    last_kind = views[-1].kind if views else None
    if n == 0:
        kind = "長句"
    elif last_kind in ("長句", "短句"):
        kind = "短句" if last_kind == "長句" else "長句"
    else:
        kind = "長句" if number % 2 else "短句"

    # Moon and blossom: required at the seat when the section has none yet; also at the last
    # verse of a section whose seat has passed without one (the checker's error there).
    topics: list[str] = []
    for topic, seats in (("月", prof.moon_seats), ("花", prof.blossom_seats)):
        for seat in seats:
            sec = prof.section_of(seat)
            if sec is None or not sec[0] <= number <= sec[1]:
                continue
            missing = not any(topic in views[i - 1].c.topics for i in range(sec[0], number))
            if missing and (number == seat or (number == sec[1] and seat < number)):
                topics.append(topic)

    avoid = _avoid(prof, views, number)
    for t in topics:
        if t in avoid:
            notes.append(f"{t} is asked at this seat but also to be avoided ({avoid[t]})")
    discouraged = tuple(t for t in prof.omote_taboo_warning if number <= prof.omote)
    avoid_words: tuple[str, ...] = ()
    if n >= 2:
        avoid_words = tuple(sorted(views[-2].c.content - views[-1].c.content))

    seasons = _seasons(prof, views, number, topics, today, saijiki, notes)
    return Seat(
        number=number,
        form=prof.form,
        profile=prof.name,
        kind=kind,
        seasons=seasons,
        topics=tuple(topics),
        avoid=avoid,
        discouraged=discouraged,
        avoid_words=avoid_words,
        name=_name(number, prof),
        section=prof.section_name(number),
        notes=tuple(notes),
    )


def _avoid(prof: Profile, views: list[VerseView], number: int) -> dict[str, str]:
    """Topics the verse at `number` must not carry, with the rule that forbids each."""
    avoid: dict[str, str] = {}
    n = len(views)
    if number <= prof.omote:
        for t in prof.omote_taboo_error:
            avoid[t] = f"表六句 (the first {prof.omote} verses)"
    if n >= 2:
        for t in views[-2].c.topics:
            if t not in views[-1].c.topics:
                avoid.setdefault(t, f"打越 (verse {n - 1})")
    for cls, gap in prof.sarikirai.items():
        if cls == SEASON_CLASS:
            continue
        last = next((i for i in range(n - 1, -1, -1) if cls in views[i].c.topics), None)
        if last is None:
            continue
        between = n - 1 - last
        if 1 <= between < gap:
            avoid.setdefault(cls, f"{gap}句去り (verse {last + 1})")
        elif between == 0 and cls in prof.no_runs:
            avoid.setdefault(cls, f"never two in a row (verse {last + 1})")
    return avoid


def _seasons(
    prof: Profile,
    views: list[VerseView],
    number: int,
    topics: list[str],
    today: date | None,
    saijiki: str | None,
    notes: list[str],
) -> tuple[str, ...]:
    """The seasons allowed at `number`, preferred first: those the rules allow there after which
    the rest of the session can still keep every season rule."""
    history = tuple(v.season for v in views)
    need = {s: "月" for s, due in _needs(prof, views, "月", prof.moon_seats).items() if due}
    need |= {s: "花" for s, due in _needs(prof, views, "花", prof.blossom_seats).items() if due}
    for t in topics:
        need[number] = t  # a moon/blossom required now (incl. at a section's end)
    seat_seasons = {t: topic_seasons(t, saijiki) for t in ("月", "花")}
    first = _MONTH_SEASON[(today or date.today()).month]
    plan = _Planner(prof, need, seat_seasons, first)
    local = plan.options(history)
    allowed = [s for s in local if plan.feasible((*history, s))]
    if not allowed:
        notes.append("no season keeps every later season rule; the rules of this seat alone apply")
        allowed = local
    if not allowed:
        notes.append("no season keeps the season rules at this seat")
        allowed = list(plan.order(history))
    return tuple(allowed)


class _Planner:
    """Season sequences that keep the profile's season rules: the 発句 has a season, the 脇
    keeps it, runs within their lengths (a finished session's last run judged too), the same
    season not back within its distance, moon and blossom seats in seasons their words have."""

    def __init__(
        self, prof: Profile, need: dict[int, str], seat_seasons: dict[str, tuple], first: str
    ):
        self.prof, self.need, self.seat_seasons, self.first = prof, need, seat_seasons, first
        self.gap = prof.sarikirai.get(SEASON_CLASS, 0)
        self.reach = self.gap + max((hi for _, hi in prof.season_runs.values()), default=1) + 2
        self.memo: dict[tuple[int, tuple[str, ...]], bool] = {}

    def order(self, history: tuple[str, ...]) -> list[str]:
        """Every season in the order of preference at the next seat."""
        i = len(history)
        number = i + 1
        runs = self.prof.season_runs
        if i == 0:
            pref = [self.first]
        elif i == 1:
            pref = [history[0]]
        else:
            p, run = history[-1], _run(history)
            topic = self.need.get(number)
            if topic == "月":
                pref = ["秋"]
            elif topic == "花":
                pref = ["春"]
            elif number == self.prof.length:
                pref = ["春"]  # the 挙句 closes in spring, with the blossom
            elif p in runs:
                pref = ["雑"]
            elif run >= 2:
                pref = sorted(VERSE_SEASONS, key=lambda s: _last(history, s))
            else:
                pref = ["雑"]
            if p in runs and run < runs[p][0]:
                pref.insert(0, p)
        return list(dict.fromkeys([*pref, *SEASONS]))

    def options(self, history: tuple[str, ...]) -> list[str]:
        """The seasons the rules allow at the next seat, looking no further."""
        prof, i = self.prof, len(history)
        number = i + 1
        runs = prof.season_runs
        out = []
        for s in self.order(history):
            if i == 0 and s == "雑":
                continue
            if i == 1 and history[0] != "雑" and s != history[0]:
                continue
            topic = self.need.get(number)
            if topic and s not in self.seat_seasons[topic]:
                continue
            if i:
                p, run = history[-1], _run(history)
                if s == p and p in runs and run + 1 > runs[p][1]:
                    continue
                if s != p and p in runs and run < runs[p][0]:
                    continue
                if s != p and s in runs and self.gap:
                    last = _last(history, s)
                    if last >= 0 and i - last - 1 < self.gap:
                        continue
            if number == prof.length and s in runs:
                # the session ends here: the last run is judged
                length = _run(history) + 1 if i and history[-1] == s else 1
                if length < runs[s][0]:
                    continue
            out.append(s)
        return out

    def feasible(self, history: tuple[str, ...]) -> bool:
        """Whether the session can be finished from `history` keeping every season rule."""
        if len(history) >= self.prof.length:
            return True
        # what the rules look at: the last run (at most the longest run) and the same-season
        # distance, so a tail of that length (with the position) is the whole state
        key = (len(history), history[-self.reach :])
        hit = self.memo.get(key)
        if hit is None:
            hit = any(self.feasible((*history, s)) for s in self.options(history))
            self.memo[key] = hit
        return hit


def _run(history: Sequence[str]) -> int:
    """The length of the run of the last season."""
    n = 0
    for s in reversed(history):
        if s != history[-1]:
            break
        n += 1
    return n


def _last(history: Sequence[str], season: str) -> int:
    """The 0-based index of the season's last verse, -1 if none."""
    for i in range(len(history) - 1, -1, -1):
        if history[i] == season:
            return i
    return -1
