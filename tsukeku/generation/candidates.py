"""From generated text to a checked, scored `Candidate` — shared by the local composer and the
remote backends, so that every model's answer is judged by the same independent form check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tsukeku.errors import InputError, TsukekuError
from tsukeku.generation.rerank import Reranker
from tsukeku.generation.types import MAX_VERSE_CHARS, Candidate

FORMS = ("5-7-5", "7-7")
_STRIP = "「」『』\"'“”。、，．,.!?！？・ 　"


def clean_verse(text: str) -> str:
    """One ASCII space between ku, no quotes or final punctuation."""
    return " ".join(text.strip(_STRIP).split())


def previous_form(text: str) -> tuple[str, str]:
    """(form of a 前句, the 前句 spaced per ku). A 前句 given without spaces is split by the
    prosody module (the prompt shows it spaced, as in the training data)."""
    from tsukeku.prosody import check_form

    text = clean_verse(text)
    if not text:
        raise InputError("the 前句 is empty; give a 長句 (5-7-5) or a 短句 (7-7)")
    if len(text) > MAX_VERSE_CHARS:
        raise InputError(f"the 前句 is {len(text)} characters long; a verse is at most "
                         f"{MAX_VERSE_CHARS}")
    report = check_form(text, "auto")
    if report.form not in FORMS:
        raise InputError(
            f"cannot tell whether {text!r} is a 長句 (5-7-5) or a 短句 (7-7) (it reads as "
            f"{report.form}); separate its ku with spaces or give the 付句's form (--form)"
        )
    spaced = text if " " in text else " ".join(report.ku)
    return report.form, spaced


def target_form(form: str, previous: str) -> tuple[str, str]:
    """(the 付句's form, the 前句 spaced). `form` "auto" takes the other form of the 前句."""
    from tsukeku.prosody import other_form

    if form not in ("auto", *FORMS):
        raise InputError(f"form must be auto, 5-7-5 or 7-7, not {form!r}")
    try:
        prev_form, spaced = previous_form(previous)
    except InputError:
        if form == "auto":
            raise
        spaced = clean_verse(previous)
        if not spaced:
            raise
        return form, spaced
    return (other_form(prev_form) if form == "auto" else form), spaced


@dataclass
class Checked:
    candidate: Candidate
    acceptable: bool  # of the form (with 字余り +1 per ku when allowed)
    deviation: int


def check_candidate(text: str, form: str, *, jiamari: bool = False,
                    split_unspaced: bool = True) -> tuple[Any, str, int]:
    """(FormReport or None, the text as checked, Σ |morae − expected|). Text written without
    spaces is split into ku by the prosody module first (when `split_unspaced`)."""
    from tsukeku.prosody import FORMS as METER
    from tsukeku.prosody import check_form, split_ku

    text = clean_verse(text)
    expected = METER[form]
    if not text:
        return None, text, sum(expected)
    if split_unspaced and " " not in text and len(expected) > 1:
        try:
            text = " ".join(split_ku(text, form))
        except TsukekuError:
            pass
    try:
        report = check_form(text, form)
    except TsukekuError:
        return None, text, sum(expected)
    morae = list(report.ku_morae)
    deviation = sum(abs(a - e) for a, e in zip(morae, expected, strict=False))
    deviation += sum(morae[len(expected):]) + sum(expected[len(morae):])
    return report, text, deviation


def acceptable(report: Any, jiamari: bool) -> bool:
    if report is None:
        return False
    if report.ok:
        return True
    return jiamari and len(report.ku_morae) == len(_meter(report.form)) and all(
        d.kind == "字余り" and d.actual == d.expected + 1 for d in report.deviations
    )


def _meter(form: str) -> tuple[int, ...]:
    from tsukeku.prosody import FORMS as METER

    return tuple(METER[form])


def make_candidate(text: str, form: str, *, previous: str, reranker: Reranker,
                   logprob: float | None = None, n_tokens: int = 0, jiamari: bool = False,
                   split_unspaced: bool = True) -> Checked:
    report, text, deviation = check_candidate(text, form, jiamari=jiamari,
                                              split_unspaced=split_unspaced)
    if report is None:
        cand = Candidate(text=text, reading="", ku_morae=[], ok=False,
                         deviations=[{"kind": "unreadable", "ku": text}], logprob=logprob)
    else:
        cand = Candidate(
            text=text,
            reading=" ".join(report.readings),
            ku_morae=list(report.ku_morae),
            ok=bool(report.ok),
            deviations=[_deviation_dict(d) for d in report.deviations],
            logprob=logprob,
        )
    parts = reranker.score(text=cand.text, reading=cand.reading, previous=previous,
                           logprob=logprob, n_tokens=n_tokens, deviation=deviation)
    cand.score = round(parts.score, 4)
    return Checked(cand, acceptable(report, jiamari), deviation)


def _deviation_dict(dev: Any) -> dict[str, Any]:
    if hasattr(dev, "to_dict"):
        return dev.to_dict()
    from dataclasses import asdict, is_dataclass

    return asdict(dev) if is_dataclass(dev) else dict(dev)


def rank(checked: list[Checked], n: int, *, only_acceptable: bool) -> list[Candidate]:
    """Best `n` distinct candidates: acceptable ones first, then by score."""
    seen: set[str] = set()
    pool = [c for c in checked if c.acceptable] if only_acceptable else checked
    ordered = sorted(pool, key=lambda c: (not c.acceptable, -c.candidate.score))
    out: list[Candidate] = []
    for c in ordered:
        key = c.candidate.text.replace(" ", "")
        if not key or key in seen:
            continue
        seen.add(key)
        out.append(c.candidate)
        if len(out) == n:
            break
    return out
