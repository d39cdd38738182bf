"""Runs every model of a comparison over the held-out 前句 of a dataset and measures it.

One request per 前句 and mode (constrained / unconstrained), sent one at a time so that the
latency figures are what a single visitor would see. Local models are also scored by their
held-out 付句 loss; remote models (OpenAI-compatible, SageMaker, Bedrock) cannot be, and their
"constrained" mode is sample-then-filter (the backend says so in its notes).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tsukeku.evaluation import metrics
from tsukeku.generation.types import Backend, ComposeRequest, CompositionResult
from tsukeku.prosody import FORMS

MODES = {"constrained": True, "unconstrained": False}


@dataclass
class ModeOutcome:
    """What one model produced for every 前句 in one decoding mode."""

    results: list[CompositionResult] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _verse_forms(records: Sequence[dict], outcome: ModeOutcome):
    got, want = [], []
    for rec, res in zip(records, outcome.results, strict=False):
        for cand in res.candidates:
            got.append(cand.ku_morae)
            want.append(FORMS[rec["next_form"]])
    return got, want


def best(result: CompositionResult):
    """The candidate a visitor is shown first (highest score), or None."""
    return max(result.candidates, key=lambda c: c.score) if result.candidates else None



def summarise_mode(records: Sequence[dict], outcome: ModeOutcome, *, n: int,
                   train_readings: Sequence[str]) -> dict[str, Any]:
    """Form adherence over every candidate returned; novelty and diversity over the best one
    per 前句 (what a visitor is shown first) and over all candidates for distinct-n."""
    got, want = _verse_forms(records, outcome)
    adherence = metrics.form_adherence(got, want)
    tops = [(rec, best(res)) for rec, res in zip(records, outcome.results, strict=False)]
    tops = [(rec, c) for rec, c in tops if c is not None]
    all_readings = [c.reading for res in outcome.results for c in res.candidates]
    top_readings = [c.reading for _, c in tops]
    from tsukeku.generation.rerank import copy_overlap

    asked = n * len(outcome.results)
    returned = sum(len(r.candidates) for r in outcome.results)
    return {
        "prompts": len(outcome.results),
        "errors": len(outcome.errors),
        "candidates_asked": asked,
        "candidates_returned": returned,
        "form_adherence_exact": adherence["exact"],
        "form_adherence_jiamari_le_1": adherence["jiamari_le_1"],
        "copy_rate_vs_train": metrics.copy_rate(top_readings, train_readings),
        "content_overlap_with_previous": (
            statistics.fmean(copy_overlap(c.text, rec["previous"]) for rec, c in tops)
            if tops else 0.0
        ),
        # a weak signal: a 付句 can link well while sharing no word with the one reference
        "content_f1_vs_reference": (
            statistics.fmean(metrics.content_f1(c.text, rec["next"]) for rec, c in tops)
            if tops else 0.0
        ),
        "distinct_1": metrics.distinct_n(all_readings, 1),
        "distinct_2": metrics.distinct_n(all_readings, 2),
        "self_bleu": metrics.self_bleu(top_readings),
        "latency_ms_p50": metrics.percentile(outcome.latencies_ms, 50),
        "latency_ms_p95": metrics.percentile(outcome.latencies_ms, 95),
    }


def run_mode(backend: Backend, records: Sequence[dict], *, constrained: bool, n: int, seed: int,
             sampling: dict[str, Any], on_step: Callable[[], None] | None = None) -> ModeOutcome:
    from tsukeku.errors import TsukekuError

    outcome = ModeOutcome()
    for i, rec in enumerate(records):
        request = ComposeRequest(
            previous=[*(rec.get("context") or []), rec["previous"]], n=n, form=rec["next_form"],
            constrained=constrained, seed=seed + i, **sampling,
        )
        start = time.perf_counter()
        try:
            result = backend.compose(request)
        except TsukekuError as err:  # one failing 前句 (e.g. a remote timeout) is counted, not fatal
            outcome.errors.append(f"{rec.get('id', i)}: {err}")
            result = CompositionResult(previous=rec["previous"], form=rec["next_form"],
                                       candidates=[], model=backend.name, constrained=constrained)
        outcome.latencies_ms.append((time.perf_counter() - start) * 1000)
        outcome.results.append(result)
        if on_step:
            on_step()
    return outcome


def samples(records: Sequence[dict], outcome: ModeOutcome, k: int = 5) -> list[dict[str, Any]]:
    """The first k 前句 with the best candidate, for the report."""
    rows = []
    for rec, res in list(zip(records, outcome.results, strict=False))[:k]:
        top = best(res)
        rows.append({"previous": rec["previous"], "reference": rec["next"],
                     "candidate": top.text if top else None,
                     "reading": top.reading if top else None,
                     "ku_morae": top.ku_morae if top else None,
                     "ok": top.ok if top else False})
    return rows
