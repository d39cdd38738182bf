"""Composing for a seat (座): the seat of a request, the checks every candidate must pass, the
season-word forcing plan of each row, and `compose_for_seat` for any backend.

The guarantee, like the form guarantee: a candidate returned for a seat is of the seat's kind
and form, in one of the seat's seasons (so it carries a season word of that season, unless the
seat is 雑), carries the seat's topics (月 at a moon seat, 正花 at a blossom seat), none it must
avoid, and breaks no error-level rule of the profile at that seat (`check_candidate`). Local
models get there constructively (a season word forced into a ku: seat_constraints.py) and every
candidate is then checked; remote backends (no token-level control) sample and are filtered by
the same checks. A candidate that fails is never returned: fewer come back, with a note.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tsukeku.errors import InputError
from tsukeku.generation.seat_words import SeasonWord, season_words, spell
from tsukeku.renga.check import check_candidate, view_verse
from tsukeku.renga.profiles import Profile, load_profile
from tsukeku.renga.seat import Seat, next_seat

KIND_FORM = {"長句": "5-7-5", "短句": "7-7"}


@dataclass
class SeatJob:
    """A request's seat, resolved: the chain (records or texts), the profile and the Seat."""

    chain: list[Any]
    profile: Profile
    seat: Seat
    failed: int = 0  # sampled candidates of the form that failed the seat checks
    missed: int = 0  # rows that ended before their season word was written
    forced: int = 0  # rows given a season word to write
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def form(self) -> str:
        return KIND_FORM[self.seat.kind]

    def problems(self, text: str) -> list[str]:
        """Why a candidate does not fit the seat (empty: it does). A model writes in the
        seat's season (the preferred one, which its prompt names and its forced word has), not
        in another the rules would also allow."""
        record = {"text": text, "kind": self.seat.kind}
        view = view_verse(record, self.profile)
        out = self.seat.problems(view)
        if view.season != self.seat.season and view.season in self.seat.seasons:
            out.append(f"season {view.season}, the seat's season is {self.seat.season}")
        out += [
            f"{v.rule}: {v.message}"
            for v in check_candidate(self.chain, record, profile=self.profile)
            if v.severity == "error"
        ]
        return out

    def admit(self, text: str) -> bool:
        problems = self.problems(text)
        if problems:
            self.failed += 1
            key = problems[0].split(":")[0]
            self.reasons[key] = self.reasons.get(key, 0) + 1
        return not problems

    def words(self) -> tuple[SeasonWord, ...]:
        s = self.seat
        if s.season == "雑":
            return ()
        return season_words(s.season, tuple(s.topics), frozenset(s.avoid), self.profile.new_year_as)

    def notes(self, returned: int | None = None, asked: int | None = None) -> list[str]:
        out = [
            f"seat {self.seat.number} ({self.seat.describe()}): every candidate was checked "
            f"against the seat and the {self.profile.form} rules (no error)"
        ]
        if self.forced:
            out.append(
                f"{self.forced} row(s) wrote a season word of {self.seat.season} "
                "forced into a ku" + (f"; {self.missed} ended before it" if self.missed else "")
            )
        if self.failed:
            why = ", ".join(f"{k} {v}" for k, v in sorted(self.reasons.items()))
            out.append(
                f"{self.failed} candidate(s) of the form failed the seat checks ({why}) "
                "and were not returned"
            )
        out += [f"seat: {n}" for n in self.seat.notes]
        if returned is not None and asked is not None and returned < asked:
            out.append(f"only {returned} candidate(s) fit the seat (asked for {asked})")
        return out


def resolve(request: Any) -> SeatJob | None:
    """The seat of a ComposeRequest: one attached in code (`with_seat`), else one derived from
    its `seat` field (profile, season/topics overrides) and its chain; None without either."""
    attached = getattr(request, "_seat_job", None)
    if attached is not None:
        return SeatJob(list(attached.chain), attached.profile, attached.seat)
    spec = getattr(request, "seat", None)
    if spec is None:
        return None
    prof = load_profile(spec.profile)
    seat = next_seat(request.chain, prof).with_overrides(spec.season, spec.topics)
    return SeatJob(list(request.chain), prof, seat)


def attach(request: Any, chain: Sequence[Any], seat: Seat | None, profile: str | Profile) -> Any:
    """The request with a seat attached (records may carry labels; a Seat may be given)."""
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    if not chain:
        raise InputError(
            "composing for a seat needs the chain so far (at least the 発句); "
            "the 発句 itself is a person's, or give one to start from"
        )
    seat = seat if seat is not None else next_seat(chain, prof)
    request._seat_job = SeatJob(list(chain), prof, seat)
    return request


def texts(chain: Sequence[Any]) -> list[str]:
    out = []
    for v in chain:
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            out.append(str(v.get("text", "")))
        else:
            out.append(str(getattr(v, "text", v)))
    return out


class RowPlanner:
    """Chooses, row by row, a season word of the seat and the ku it opens, spelt in the
    tokenizer's tokens and checked against the automaton (cached per word and ku)."""

    def __init__(self, job: SeatJob, composer: Any, meter: Any, seed: int | None):
        self.job = job
        self.composer = composer
        self.meter = meter
        self.rng = random.Random(seed)  # None: fresh entropy, as sampling without a seed
        self._spelt: dict[tuple[str, int], tuple[int, ...] | None] = {}
        self._choices = [
            (w, k) for w in job.words() for k, t in enumerate(meter.targets) if w.morae <= t
        ]

    def pick(self) -> Any:
        from tsukeku.generation.seat_constraints import Forcing

        if not self._choices:
            return None
        for _ in range(12):
            word, ku = self.rng.choice(self._choices)
            key = (word.word, ku)
            if key not in self._spelt:
                c = self.composer
                self._spelt[key] = spell(
                    word.word,
                    ku,
                    c.tokenizer,
                    c.token_table(),
                    c.automaton(),
                    self.meter.targets,
                    self.meter.jiamari,
                )
            ids = self._spelt[key]
            if ids:
                self.job.forced += 1
                return Forcing(ku, ids, word.word)
            self._choices.remove((word, ku))
            if not self._choices:
                return None
        return None


def seat_forcing(composer: Any, rows: list[Any], constraint: Any) -> Any:
    """The processor forcing each seat row's season word in one generate call (rows: the
    composer's plans, one per row), or None when no row has one."""
    from tsukeku.generation.seat_constraints import SeatForcingLogitsProcessor

    if not any(r.job is not None and r.meter is not None for r in rows):
        return None
    for r in rows:
        if r.job is not None and r.meter is not None and r.planner is None:
            r.planner = RowPlanner(r.job, composer, r.meter, r.request.seed)
    picks = [r.planner.pick() if r.planner is not None else None for r in rows]
    return SeatForcingLogitsProcessor(constraint, picks) if any(picks) else None


def compose_for_seat(
    backend: Any,
    chain: Sequence[Any],
    seat: Seat | None = None,
    n: int = 5,
    *,
    profile: str | Profile = "歌仙",
    max_rounds: int = 4,
    **options: Any,
) -> Any:
    """Candidates for the next seat of `chain` (texts or records, oldest first) from any
    backend: a local one (a `Composer`, or a backend holding one as `composer`) forces a season
    word and checks every candidate; a remote one is sampled and filtered by the same checks
    (`max_rounds` sampling rounds; a backend that composes for seats itself uses its own).
    `seat`: the Seat to write for (default: `next_seat(chain, profile)`); `options`: the
    request's sampling fields (seed, temperature …). Returns a CompositionResult."""
    from tsukeku.generation.composer import Composer
    from tsukeku.generation.types import ComposeRequest

    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    if not chain:
        raise InputError("composing for a seat needs the chain so far (at least the 発句)")
    seat = seat if seat is not None else next_seat(chain, prof)
    request = attach(
        ComposeRequest(previous=texts(chain), n=n, form=KIND_FORM[seat.kind], **options),
        chain,
        seat,
        prof,
    )
    if isinstance(backend, Composer) or isinstance(getattr(backend, "composer", None), Composer):
        return backend.compose_many([request])[0]
    if getattr(backend, "composes_for_seats", False):
        # the remote backends name the seat in their prompt and filter by it themselves
        # (tsukeku.backends.base.RemoteBackend): filtering again would multiply the rounds
        return backend.compose(request)
    return filter_for_seat(backend, request, max_rounds)


def filter_for_seat(backend: Any, request: Any, max_rounds: int = 4) -> Any:
    """A backend without token-level control: sample (more than asked), keep the candidates
    that pass the seat checks, until `request.n` or `max_rounds` calls."""
    job = resolve(request)
    assert job is not None
    ask = request.model_copy(update={"n": min(16, max(2 * request.n, request.n + 2))})
    kept: list[Any] = []
    seen: set[str] = set()
    result = None
    for _ in range(max_rounds):
        result = backend.compose(ask)
        for c in result.candidates:
            if c.ok and c.text not in seen and job.admit(c.text):
                seen.add(c.text)
                kept.append(c)
        if len(kept) >= request.n:
            break
    assert result is not None
    result.candidates = kept[: request.n]
    result.previous = request.previous
    result.notes = [
        *result.notes,
        "filtered by the seat checks (a remote backend has no token-level control)",
        *job.notes(len(result.candidates), request.n),
    ]
    result.seat = job.seat.to_dict()
    return result
