"""Reranking 付句 candidates.

    score = logprob / tokens                       (length-normalised model log-likelihood, nats)
            − form_weight  · Σ_ku |morae − expected|   (0 for a verse of the form)
            − copy_weight  · overlap                (share of the candidate's content words that
                                                     are in the 前句)
            − known_weight · verbatim               (1 when the candidate repeats a known 付句)

- The log-likelihood is the model's own (raw logits, before the constraint mask), summed over
  the generated tokens including the end marker and divided by their number, so that long and
  short spellings of a verse compete fairly. Remote backends that give no log-probabilities
  score 0 on this term (the penalties alone order them).
- Content words are the lemmas of nouns, verbs, adjectives, adjectival nouns and adverbs,
  excluding the dependent ones (する, こと …), as `prosody.analysis.content_lemmas` picks them:
  a 付句 should move away from its 前句, not repeat its words in another order.
- `verbatim`: the candidate's text or reading (spaces removed) is in the set of known 付句 —
  e.g. the `next` verses of a dataset's train.jsonl — so a model reciting its training data
  ranks below one that composes.

Defaults: form 1.0, copy 2.0, known 5.0.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tsukeku.errors import DataError
from tsukeku.io import iter_jsonl
from tsukeku.prosody.analysis import content_lemmas


@lru_cache(maxsize=8192)
def content_words(text: str) -> frozenset[str]:
    """The set of content-word lemmas of `text` (prosody.analysis.content_lemmas)."""
    return frozenset(content_lemmas(text))


def copy_overlap(candidate: str, previous: str) -> float:
    """Share of the candidate's content words that the 前句 already has (0 … 1)."""
    mine = content_words(candidate)
    if not mine:
        return 0.0
    return len(mine & content_words(previous)) / len(mine)


def _key(text: str) -> str:
    return "".join(text.split())


@dataclass
class RerankWeights:
    form: float = 1.0
    copy: float = 2.0
    known: float = 5.0


@dataclass
class ScoreParts:
    loglik: float
    form: float
    copy: float
    known: float
    score: float


class Reranker:
    """Scores candidates (see the module doc for the formula)."""

    def __init__(self, known: Iterable[str] = (), weights: RerankWeights | None = None):
        self.weights = weights or RerankWeights()
        self.known = {_key(k) for k in known if k and k.strip()}

    @classmethod
    def from_dataset(cls, path: str | os.PathLike, weights: RerankWeights | None = None,
                     *, with_readings: bool = True) -> Reranker:
        """Known 付句 from a dataset's train.jsonl (or a dataset directory holding one): their
        texts and, with `with_readings`, their readings (so a respelling is caught too)."""
        p = Path(path)
        if p.is_dir():
            p = p / "train.jsonl"
        if not p.exists():
            raise DataError(f"{p} not found: give a dataset's train.jsonl (or its directory)")
        known: list[str] = []
        for lineno, link in iter_jsonl(p):
            try:
                nxt = link["next"]
            except (KeyError, TypeError):
                raise DataError(f"{p}:{lineno}: not a link record with a 'next' verse") from None
            text = nxt["text"] if isinstance(nxt, dict) else str(nxt)
            known.append(text)
            given = nxt.get("reading") if isinstance(nxt, dict) else link.get("next_reading")
            if given:
                known.append(given)
            elif with_readings:
                known.append(_reading_or_empty(text))
        return cls(known, weights)

    def is_known(self, text: str, reading: str = "") -> bool:
        return _key(text) in self.known or (bool(reading) and _key(reading) in self.known)

    def score(self, *, text: str, reading: str, previous: str, logprob: float | None,
              n_tokens: int, deviation: int) -> ScoreParts:
        """`deviation`: Σ_ku |morae − expected| (plus the morae of missing or extra ku)."""
        w = self.weights
        loglik = (logprob / max(1, n_tokens)) if logprob is not None else 0.0
        overlap = copy_overlap(text, previous) if text else 0.0
        known = 1.0 if self.is_known(text, reading) else 0.0
        score = loglik - w.form * deviation - w.copy * overlap - w.known * known
        return ScoreParts(loglik, float(deviation), overlap, known, score)


def _reading_or_empty(text: str) -> str:
    from tsukeku.errors import TsukekuError
    from tsukeku.prosody import reading

    try:
        return reading(text)
    except TsukekuError:
        return ""
