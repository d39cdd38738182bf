"""The rule checker (式目): a chain of verses against a rule profile → violations.

Rule ids and severities are a stable interface (docs/renga.md, docs/architecture.md):
length, alternation, hokku_season, hokku_kireji, waki_season, season_run, moon_seat,
blossom_seat, omote_taboo, uchikoshi, sarikirai, ageku. Verses are 1-based in violations.
A chain that breaks the form (verses of the wrong kind, too many) is reported, never raised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tsukeku.renga.classify import Classification, classify
from tsukeku.renga.profiles import SEASON_CLASS, Profile, load_profile

ERROR, WARNING = "error", "warning"
RULES = (
    "length",
    "alternation",
    "hokku_season",
    "hokku_kireji",
    "waki_season",
    "season_run",
    "moon_seat",
    "blossom_seat",
    "omote_taboo",
    "uchikoshi",
    "sarikirai",
    "ageku",
)
_LENGTHS = {"歌仙": 36, "半歌仙": 18, "百韻": 100}
_KU_KIND = {3: "長句", 2: "短句"}


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    severity: str
    verses: tuple[int, ...]  # 1-based
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "verses": list(self.verses),
            "message": self.message,
        }


@dataclass
class Report:
    form: str
    profile: str
    verses: int
    complete: bool
    violations: list[Violation] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(v.severity == ERROR for v in self.violations)

    @property
    def warnings(self) -> int:
        return sum(v.severity == WARNING for v in self.violations)

    @property
    def ok(self) -> bool:
        return self.errors == 0

    def rules(self, severity: str | None = None) -> set[str]:
        return {v.rule for v in self.violations if severity in (None, v.severity)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "form": self.form,
            "profile": self.profile,
            "verses": self.verses,
            "complete": self.complete,
            "errors": self.errors,
            "warnings": self.warnings,
            "violations": [v.to_dict() for v in self.violations],
        }


@dataclass(frozen=True, slots=True)
class VerseView:
    """One verse as the checker sees it."""

    kind: str | None  # 長句 / 短句 as given or from its ku; None when neither tells
    c: Classification
    season: str  # after the profile's New Year mapping


def auto_form(n: int) -> str:
    """The form of a chain of n verses when none is given: 18 → 半歌仙, up to 36 → 歌仙, more
    → 百韻 (an unfinished 半歌仙 cannot be told from a 歌仙: name the form)."""
    if n == 18:
        return "半歌仙"
    return "歌仙" if n <= 36 else "百韻"


def view_verse(verse: Any, profile: Profile, saijiki: str | None = None) -> VerseView:
    """A verse as the checker judges it (also what `tsukeku.renga.seat` reads a chain with)."""
    c = verse if isinstance(verse, Classification) else classify(verse, saijiki=saijiki)
    kind = verse.get("kind") if isinstance(verse, Mapping) else getattr(verse, "kind", None)
    if kind not in ("長句", "短句"):
        kind = _KU_KIND.get(len(c.text.split(" ")))
    season = c.season if c.season_given else c.inferred_season(profile.new_year_as)
    return VerseView(kind, c, season)


def check(
    verses: Sequence[Any],
    form: str = "auto",
    *,
    profile: str | Profile | None = None,
    complete: bool | None = None,
    saijiki: str | None = None,
) -> Report:
    """Checks verses (texts, `Verse` records, mappings with `text`/`kind`/`season`/`topics`, or
    `Classification`s) in order. `form` auto: from the profile, else from the number of verses.
    `complete`: whether the session is over (default: it has its form's number of verses)."""
    if isinstance(profile, Profile):
        prof = profile
    else:
        if form == "auto":
            form = load_profile(profile).form if profile else auto_form(len(verses))
        prof = load_profile(profile or form)
    form = prof.form
    seats = [view_verse(v, prof, saijiki) for v in verses]
    n = len(seats)
    done = n >= prof.length if complete is None else complete
    report = Report(form=form, profile=prof.name, verses=n, complete=done)
    out = report.violations
    if n == 0:
        return report
    _length(prof, n, out)
    seats = seats[: prof.length]
    n = len(seats)
    _alternation(seats, out)
    _hokku_waki(seats, out)
    _season_runs(prof, seats, done, out)
    _seats(prof, seats, "月", prof.moon_seats, "moon_seat", out, earlier_ok=True)
    _seats(prof, seats, "花", prof.blossom_seats, "blossom_seat", out, earlier_ok=False)
    _omote(prof, seats, out)
    _uchikoshi(seats, out)
    _sarikirai(prof, seats, out)
    _ageku(prof, seats, done, out)
    out.sort(key=lambda v: (v.verses[0] if v.verses else 0, RULES.index(v.rule)))
    return report


def _length(prof: Profile, n: int, out: list[Violation]) -> None:
    if n > prof.length:
        extra = tuple(range(prof.length + 1, n + 1))
        out.append(
            Violation(
                "length",
                ERROR,
                extra,
                f"a {prof.form} has {prof.length} verses; this chain has {n}",
            )
        )


def _alternation(seats: list[VerseView], out: list[Violation]) -> None:
    if seats[0].kind == "短句":
        out.append(Violation("alternation", ERROR, (1,), "the 発句 must be a 長句 (5-7-5)"))
    for i in range(1, len(seats)):
        a, b = seats[i - 1].kind, seats[i].kind
        if a is not None and a == b:
            out.append(
                Violation(
                    "alternation",
                    ERROR,
                    (i, i + 1),
                    f"two {b} in a row: 長句 and 短句 must alternate",
                )
            )


def _hokku_waki(seats: list[VerseView], out: list[Violation]) -> None:
    hokku = seats[0]
    if hokku.season == "雑":
        out.append(
            Violation(
                "hokku_season",
                ERROR,
                (1,),
                "the 発句 has no season: it must hold a season word of the moment",
            )
        )
    if not hokku.c.kireji:
        out.append(
            Violation("hokku_kireji", WARNING, (1,), "the 発句 has no 切字 (や, かな, けり …)")
        )
    if len(seats) > 1 and hokku.season != "雑" and seats[1].season != hokku.season:
        out.append(
            Violation(
                "waki_season",
                ERROR,
                (1, 2),
                f"the 脇 is {seats[1].season}, not in the 発句's season ({hokku.season})",
            )
        )


def _runs(flags: list[bool]) -> list[tuple[int, int]]:
    """(first, last) 0-based of each run of True."""
    runs, start = [], None
    for i, f in enumerate([*flags, False]):
        if f and start is None:
            start = i
        elif not f and start is not None:
            runs.append((start, i - 1))
            start = None
    return runs


def _season_runs(prof: Profile, seats: list[VerseView], done: bool, out: list[Violation]) -> None:
    n = len(seats)
    i = 0
    while i < n:
        s = seats[i].season
        j = i
        while j + 1 < n and seats[j + 1].season == s:
            j += 1
        if s in prof.season_runs:
            lo, hi = prof.season_runs[s]
            length = j - i + 1
            cut_off = j == n - 1 and not done
            verses = tuple(range(i + 1, j + 2))
            if length > hi:
                out.append(
                    Violation(
                        "season_run", ERROR, verses, f"{s} runs {length} verses; at most {hi}"
                    )
                )
            elif length < lo and not cut_off:
                out.append(
                    Violation(
                        "season_run", ERROR, verses, f"{s} runs {length} verse(s); at least {lo}"
                    )
                )
        i = j + 1


def _seats(
    prof: Profile,
    seats: list[VerseView],
    topic: str,
    places: list[int],
    rule: str,
    out: list[Violation],
    *,
    earlier_ok: bool,
) -> None:
    n = len(seats)
    what = "月" if topic == "月" else "正花"
    for seat in places:
        sec = prof.section_of(seat)
        if sec is None or sec[0] > n:
            continue
        a, b = sec
        found = [i for i in range(a, min(b, n) + 1) if topic in seats[i - 1].c.topics]
        name = prof.section_name(seat)
        if seat in found or (earlier_ok and any(i < seat for i in found)):
            continue
        if found:
            out.append(
                Violation(
                    rule,
                    WARNING,
                    (found[0],),
                    f"the {what} of the {name} is at verse {found[0]}, moved from its seat {seat}",
                )
            )
        elif n >= b:
            out.append(
                Violation(
                    rule,
                    ERROR,
                    (seat,),
                    f"no {what} verse in the {name} (verses {a}–{b}); its seat is verse {seat}",
                )
            )


def _omote(prof: Profile, seats: list[VerseView], out: list[Violation]) -> None:
    for i, seat in enumerate(seats[: prof.omote], start=1):
        bad = [t for t in prof.omote_taboo_error if t in seat.c.topics]
        if bad:
            out.append(
                Violation(
                    "omote_taboo", ERROR, (i,), f"{'・'.join(bad)} in the first {prof.omote} verses"
                )
            )
        soft = [t for t in prof.omote_taboo_warning if t in seat.c.topics]
        soft += [f"the name {n}" for n in seat.c.names]
        if soft:
            out.append(
                Violation(
                    "omote_taboo",
                    WARNING,
                    (i,),
                    f"{'・'.join(soft)} in the first {prof.omote} verses",
                )
            )


def _uchikoshi(seats: list[VerseView], out: list[Violation]) -> None:
    for i in range(2, len(seats)):
        a, b, c = seats[i - 2].c, seats[i - 1].c, seats[i].c
        shared = [t for t in c.topics if t in a.topics and t not in b.topics]
        if shared:
            out.append(
                Violation(
                    "uchikoshi",
                    ERROR,
                    (i - 1, i + 1),
                    f"verse {i + 1} returns to the 打越 (verse {i - 1}): {'・'.join(shared)}",
                )
            )
        words = sorted((c.content & a.content) - b.content)
        if words:
            out.append(
                Violation(
                    "uchikoshi",
                    WARNING,
                    (i - 1, i + 1),
                    f"verse {i + 1} repeats the 打越's word(s) {'・'.join(words)}",
                )
            )


def _sarikirai(prof: Profile, seats: list[VerseView], out: list[Violation]) -> None:
    for cls, gap in prof.sarikirai.items():
        if cls == SEASON_CLASS:
            for season in ("春", "夏", "秋", "冬"):
                _gaps(seats, [s.season == season for s in seats], season, gap, 1, out)
            continue
        flags = [cls in s.c.topics for s in seats]
        # one verse between is the 打越, reported by that rule
        _gaps(seats, flags, cls, gap, 2, out)
        if cls in prof.no_runs:
            for a, b in _runs(flags):
                if b > a:
                    out.append(
                        Violation(
                            "sarikirai",
                            ERROR,
                            tuple(range(a + 1, b + 2)),
                            f"{cls} in {b - a + 1} verses in a row",
                        )
                    )


def _gaps(
    seats: list[VerseView], flags: list[bool], cls: str, gap: int, least: int, out: list[Violation]
) -> None:
    runs = _runs(flags)
    for (_, end), (start, _) in zip(runs, runs[1:], strict=False):
        between = start - end - 1
        if least <= between < gap:
            out.append(
                Violation(
                    "sarikirai",
                    ERROR,
                    (end + 1, start + 1),
                    f"{cls} returns after {between} verse(s); the rule asks "
                    f"{gap} between ({gap}句去り)",
                )
            )


def _ageku(prof: Profile, seats: list[VerseView], done: bool, out: list[Violation]) -> None:
    if not done or len(seats) < prof.length:
        return
    blossoms = [s for s in seats if "花" in s.c.topics]
    want = blossoms[-1].season if blossoms and blossoms[-1].season != "雑" else "春"
    last = seats[-1]
    if last.season != want:
        out.append(
            Violation(
                "ageku",
                WARNING,
                (len(seats),),
                f"the 挙句 is {last.season}; it should close in the blossom's season ({want})",
            )
        )


def check_candidate(
    chain: Sequence[Any],
    candidate: Any,
    form: str = "auto",
    *,
    profile: str | Profile | None = None,
) -> list[Violation]:
    """The violations a candidate verse would bring at the next seat of an unfinished chain:
    those of the chain with it appended that name its seat (what a composer or a session asks
    of each candidate)."""
    seat = len(chain) + 1
    verses = [*chain, candidate]
    if form == "auto" and profile is None:
        form = auto_form(len(verses))
    complete = None
    if isinstance(profile, Profile):
        complete = seat >= profile.length
    report = check(verses, form, profile=profile, complete=complete)
    return [v for v in report.violations if seat in v.verses]
