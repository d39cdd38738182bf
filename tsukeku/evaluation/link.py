"""Next-verse selection: does a model prefer a 前句's own 付句 to others of the same kind?

For each held-out 前句 the true 付句 is put among `k` distractors: 付句 of the same form
(`next_form`) drawn from the same split with a fixed seed, never the true one nor a verse of
the same text or reading. Each model scores every candidate by its length-normalised
conditional log-likelihood (mean log-probability per target token after the model's own
prompt: the held-out loss's encoding, per candidate) and the true one's rank gives recall@1
and the reciprocal rank. Chance is 1/(k+1) for recall@1.

Ties (equal scores) are broken at random in expectation: a true 付句 tied with t others at the
top counts 1/(t+1) of a hit, and its reciprocal rank is the mean over the tied places — so a
model that scores everything alike is at chance, not at 0 or 1.

Intervals: percentile bootstrap over the 前句 (resampled with replacement, fixed seed).

Calibrated variant (PMI, an extra figure beside the plain one, never instead of it): the same
candidates ranked by log p(付句 | 前句) − log p(付句 | the neutral prompt), both length-normalised
(so the difference is the pointwise mutual information per 付句 token). The neutral prompt is the
model's own template with an empty 前句 and no context — the "domain premise" of Holtzman et al.
2021 (surface form competition). Likelihood alone is dominated by how typical a candidate is
whatever the 前句 (a model that memorised the pairs still ranks common verses first); the
difference keeps only what the 前句 adds. A candidate's neutral score does not depend on the
item, so it is computed once per distinct (candidate, form).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DISTRACTORS = 9
RESAMPLES = 2000
LEVEL = 0.95
NEUTRAL_PREVIOUS = ""  # the calibration prompt's 前句: the template with nothing to answer
NEUTRAL_BATCH = 32


@dataclass
class LinkItem:
    """One 前句 and its candidates; `candidates[0]` is the true 付句."""

    record: dict[str, Any]
    candidates: list[str]


def _keys(rec: dict[str, Any]) -> set[str]:
    from tsukeku.prosody import normalise_reading

    keys = {"text:" + "".join(rec["next"].split())}
    if rec.get("next_reading"):
        keys.add("reading:" + normalise_reading(rec["next_reading"]))
    return keys


def link_items(records: Sequence[dict[str, Any]], pool: Sequence[dict[str, Any]], *,
               distractors: int = DISTRACTORS, seed: int = 0) -> list[LinkItem]:
    """For each record (at index i), its true 付句 then `distractors` others of the same
    `next_form`, distinct, sampled from `pool` (the whole split) by a generator seeded with
    (seed, i): an item's candidates do not depend on which other items are scored. Fewer are
    taken when the pool has fewer of that form."""
    by_form: dict[str, list[dict[str, Any]]] = {}
    seen: dict[str, set[str]] = {}
    for rec in pool:
        form = rec["next_form"]
        keys = _keys(rec)
        if keys & seen.setdefault(form, set()):
            continue  # the same 付句 twice in the split: one candidate
        seen[form] |= keys
        by_form.setdefault(form, []).append(rec)
    items = []
    for i, rec in enumerate(records):
        own = _keys(rec)
        others = [p["next"] for p in by_form.get(rec["next_form"], []) if not (_keys(p) & own)]
        rng = np.random.default_rng([seed, i])
        picked = rng.choice(len(others), size=min(distractors, len(others)), replace=False)
        items.append(LinkItem(rec, [rec["next"], *(others[j] for j in picked)]))
    return items


def outcome(scores: Sequence[float], true: int = 0) -> tuple[float, float]:
    """(hit@1, reciprocal rank) of candidate `true`, ties broken at random in expectation. A
    NaN score (no likelihood) ranks below every number."""
    s = np.nan_to_num(np.asarray(scores, dtype=float), nan=-np.inf)
    mine = s[true]
    others = np.delete(s, true)
    greater = int((others > mine).sum())
    ties = int((others == mine).sum())
    hit = 1.0 / (ties + 1) if greater == 0 else 0.0
    rr = float(np.mean([1.0 / (greater + 1 + t) for t in range(ties + 1)]))
    return hit, rr


def bootstrap_interval(values: Sequence[float], *, resamples: int = RESAMPLES, seed: int = 0,
                       level: float = LEVEL) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (NaN, NaN for no values)."""
    v = np.asarray(values, dtype=float)
    if not len(v):
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(resamples, len(v)))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


@dataclass
class LinkResult:
    """Per-item hits and reciprocal ranks of one model (in item order)."""

    hits: list[float] = field(default_factory=list)
    reciprocal_ranks: list[float] = field(default_factory=list)
    candidates: int = 0
    scores: list[list[float]] = field(default_factory=list)  # per item, candidates in order

    def add(self, scores: Sequence[float]) -> None:
        hit, rr = outcome(scores)
        self.hits.append(hit)
        self.reciprocal_ranks.append(rr)
        self.scores.append([float(x) for x in scores])

    def summary(self, *, seed: int = 0, resamples: int = RESAMPLES) -> dict[str, Any]:
        r_low, r_high = bootstrap_interval(self.hits, seed=seed, resamples=resamples)
        m_low, m_high = bootstrap_interval(self.reciprocal_ranks, seed=seed, resamples=resamples)
        n = len(self.hits)
        return {
            "available": True, "items": n, "candidates": self.candidates,
            "chance_recall_at_1": 1 / self.candidates if self.candidates else float("nan"),
            "recall_at_1": float(np.mean(self.hits)) if n else float("nan"),
            "recall_at_1_ci_low": r_low, "recall_at_1_ci_high": r_high,
            "mrr": float(np.mean(self.reciprocal_ranks)) if n else float("nan"),
            "mrr_ci_low": m_low, "mrr_ci_high": m_high,
            "ci_level": LEVEL, "bootstrap_resamples": resamples,
        }


def unavailable(backend: Any) -> str | None:
    """Why `backend` cannot be scored (None when it can)."""
    if callable(getattr(backend, "score", None)):
        return None
    return (f"{type(backend).__name__} cannot score a given 付句: it has no `score` method (the "
            "remote backends ask only for what the model writes, not for log-probabilities of "
            "a text we give it)")


def score_items(backend: Any, items: Sequence[LinkItem], *, adapter: str | None = None,
                max_length: int = 256, on_step: Callable[[], None] | None = None) -> LinkResult:
    """Every item's candidates scored by `backend.score` (a local model's likelihood)."""
    result = LinkResult(candidates=max((len(it.candidates) for it in items), default=0))
    for item in items:
        rec = item.record
        scores = backend.score(rec["previous"], item.candidates, form=rec["next_form"],
                               context=tuple(rec.get("context") or ()), adapter=adapter,
                               max_length=max_length)
        result.add(scores)
        if on_step:
            on_step()
    return result


def neutral_scores(backend: Any, items: Sequence[LinkItem], *, adapter: str | None = None,
                   max_length: int = 256) -> dict[tuple[str, str], float]:
    """Each distinct (candidate, form)'s score after the neutral prompt (NEUTRAL_PREVIOUS, no
    context): the calibration term of the PMI ranking."""
    wanted: dict[str, list[str]] = {}
    for item in items:
        form = item.record["next_form"]
        seen = wanted.setdefault(form, [])
        seen.extend(c for c in item.candidates if c not in seen)
    out: dict[tuple[str, str], float] = {}
    for form, texts in wanted.items():
        for i in range(0, len(texts), NEUTRAL_BATCH):
            chunk = texts[i:i + NEUTRAL_BATCH]
            scores = backend.score(NEUTRAL_PREVIOUS, chunk, form=form, context=(), adapter=adapter,
                                   max_length=max_length)
            out.update({(c, form): float(x) for c, x in zip(chunk, scores, strict=True)})
    return out


def calibrated(result: LinkResult, items: Sequence[LinkItem],
               neutral: dict[tuple[str, str], float]) -> LinkResult:
    """The PMI ranking of already scored items: each conditional score minus the candidate's
    neutral score (`neutral_scores`)."""
    if len(result.scores) != len(items):
        raise ValueError("calibration needs the scores of the same items")
    out = LinkResult(candidates=result.candidates)
    for item, scores in zip(items, result.scores, strict=True):
        form = item.record["next_form"]
        out.add([s - neutral[(c, form)] for c, s in zip(item.candidates, scores, strict=True)])
    return out


def score_calibrated(backend: Any, items: Sequence[LinkItem], *, adapter: str | None = None,
                     max_length: int = 256) -> tuple[LinkResult, LinkResult]:
    """(plain, PMI) results of one backend on the same items."""
    plain = score_items(backend, items, adapter=adapter, max_length=max_length)
    neutral = neutral_scores(backend, items, adapter=adapter, max_length=max_length)
    return plain, calibrated(plain, items, neutral)


def link_report(backend: Any, items: Sequence[LinkItem], *, seed: int = 0, max_length: int = 256,
                on_step: Callable[[], None] | None = None) -> dict[str, Any]:
    """`models.<name>.link` of report.json: the figures (the calibrated ranking's under
    `pmi`), or why there are none."""
    reason = unavailable(backend)
    if reason is not None:
        return {"available": False, "reason": reason, "items": len(items),
                "candidates": max((len(it.candidates) for it in items), default=0)}
    plain = score_items(backend, items, max_length=max_length, on_step=on_step)
    pmi = calibrated(plain, items, neutral_scores(backend, items, max_length=max_length))
    return {**plain.summary(seed=seed), "pmi": pmi.summary(seed=seed)}


def paired_difference(a: LinkResult, b: LinkResult, *, seed: int = 0,
                      resamples: int = RESAMPLES) -> dict[str, float]:
    """recall@1 and MRR of `a` minus `b` on the same items, with paired bootstrap intervals
    (the same resampled 前句 for both: tighter than comparing two separate intervals)."""
    if len(a.hits) != len(b.hits):
        raise ValueError("paired results must cover the same items")
    d_hit = np.asarray(a.hits) - np.asarray(b.hits)
    d_rr = np.asarray(a.reciprocal_ranks) - np.asarray(b.reciprocal_ranks)
    h_low, h_high = bootstrap_interval(d_hit, seed=seed, resamples=resamples)
    r_low, r_high = bootstrap_interval(d_rr, seed=seed, resamples=resamples)
    return {"recall_at_1": float(d_hit.mean()), "recall_at_1_ci_low": h_low,
            "recall_at_1_ci_high": h_high, "mrr": float(d_rr.mean()), "mrr_ci_low": r_low,
            "mrr_ci_high": r_high}
