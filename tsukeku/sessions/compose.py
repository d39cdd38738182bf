"""A model's verse for a seat: candidates from the model's composer, each read at the seat
(form and rules), the best one kept: fewest errors, then fewest warnings, then the model's own
score. A candidate whose ku cannot be made into the seat's form is never kept.

The first rounds ask for the seat (`ComposeRequest.seat`: the whole chain and the profile, so a
local model forces a season word of the seat's season and returns only candidates that pass the
seat's checks — tsukeku.generation.seat_compose); when those give nothing clean (a small model
may not manage the seat at all), one plain round of the seat's form follows, so that a session
never stalls on a model. A model's 発句 has no chain to read a seat from: it answers the
session's title in the plain way."""

from __future__ import annotations

from typing import Any

from tsukeku.corpus.model import KU_COUNT
from tsukeku.errors import TsukekuError
from tsukeku.generation.types import ComposeRequest, SeatSpec
from tsukeku.sessions.errors import ModelTurnFailed
from tsukeku.sessions.rules import Evaluation, evaluate
from tsukeku.sessions.turns import profile_of

SEAT_PROFILES = ("kasen", "hankasen", "hyakuin")  # the profiles a SeatSpec names


def _request(record: Any, info: Any, limits: Any, attempt: int, seat: bool) -> ComposeRequest:
    chain = [v.text for v in record.verses]
    options = {"n": limits.model_candidates, "form": info.form,
               "seed": record.next_seat * 1009 + attempt}
    if seat:
        return ComposeRequest(previous=chain, seat=SeatSpec(profile=record.profile), **options)
    return ComposeRequest(previous=chain[-limits.context_verses:] or record.title, **options)


def _rounds(record: Any, limits: Any) -> list[bool]:
    """Whether each round asks for the seat."""
    seat_aware = bool(record.verses) and record.profile in SEAT_PROFILES
    if not seat_aware:
        return [False] * limits.model_attempts
    return [True] * limits.model_attempts + [False]


async def pick_verse(compose: Any, record: Any, model: str, info: Any, limits: Any) -> Evaluation:
    prof = profile_of(record)
    best: tuple[tuple[int, int, float], Evaluation] | None = None
    for attempt, seat in enumerate(_rounds(record, limits)):
        request = _request(record, info, limits, attempt, seat)
        result = await compose(model, request)
        for cand in result.candidates:
            text = cand.text.strip()
            if len(text.split()) != KU_COUNT[info.kind]:
                continue
            try:
                ev = evaluate(record.verses, text, info.kind, prof)
            except TsukekuError:
                continue
            warnings = sum(v["severity"] != "error" for v in ev.violations)
            key = (len(ev.errors), warnings, -float(cand.score))
            if best is None or key < best[0]:
                best = (key, ev)
        if best is not None and not best[0][0]:
            break
    if best is None:
        raise ModelTurnFailed(f"{model} gave no verse in the form {info.form}; it will try again")
    return best[1]
