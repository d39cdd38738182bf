"""A model's verse for a seat: candidates from the model's composer, each read at the seat
(form and rules), the best one kept: fewest errors, then fewest warnings, then the model's own
score. A candidate whose ku cannot be made into the seat's form is never kept."""

from __future__ import annotations

from typing import Any

from tsukeku.corpus.model import KU_COUNT
from tsukeku.errors import TsukekuError
from tsukeku.generation.types import ComposeRequest
from tsukeku.sessions.errors import ModelTurnFailed
from tsukeku.sessions.rules import Evaluation, evaluate
from tsukeku.sessions.turns import profile_of


def _previous(record: Any, context: int) -> list[str] | str:
    """The chain's last verses; the hokku answers the session's title (its お題)."""
    chain = [v.text for v in record.verses][-context:]
    return chain or record.title


async def pick_verse(compose: Any, record: Any, model: str, info: Any, limits: Any) -> Evaluation:
    prof = profile_of(record)
    best: tuple[tuple[int, int, float], Evaluation] | None = None
    for attempt in range(limits.model_attempts):
        request = ComposeRequest(previous=_previous(record, limits.context_verses),
                                 n=limits.model_candidates, form=info.form,
                                 seed=(record.next_seat * 1009 + attempt))
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
