"""Corpus-level metrics over generated 付句. Pure functions: no model, no I/O."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
from sacrebleu.metrics import BLEU

from tsukeku.prosody import analysis

# the key the dataset builder compares readings by (kana only, old kana folded), so "a copy of a
# training 付句" means what "a duplicate" means there
from tsukeku.prosody import normalise_reading as _normalise


def form_adherence(ku_morae: Sequence[Sequence[int]], expected: Sequence[Sequence[int]]) -> dict:
    """Share of verses whose per-ku morae equal the form exactly, and with at most one extra
    mora (字余り) in at most one ku and nothing short."""
    if len(ku_morae) != len(expected):
        raise ValueError("one expected form per verse")
    if not ku_morae:
        return {"exact": 0.0, "jiamari_le_1": 0.0, "n": 0}
    exact = within = 0
    for got, want in zip(ku_morae, expected, strict=True):
        if list(got) == list(want):
            exact += 1
            within += 1
        elif len(got) == len(want):
            over = [g - w for g, w in zip(got, want, strict=True)]
            if all(d >= 0 for d in over) and sum(over) == 1:
                within += 1
    n = len(ku_morae)
    return {"exact": exact / n, "jiamari_le_1": within / n, "n": n}


def copy_rate(generated_readings: Iterable[str], training_readings: Iterable[str]) -> float:
    """Share of generated 付句 whose reading equals a training 付句 verbatim (memorisation)."""
    known = {_normalise(r) for r in training_readings}
    gen = [_normalise(r) for r in generated_readings]
    return sum(r in known for r in gen) / len(gen) if gen else 0.0


def distinct_n(readings: Iterable[str], n: int) -> float:
    """Distinct-n over kana of the readings: unique n-grams / all n-grams (higher = more varied)."""
    grams: list[str] = []
    for reading in readings:
        kana = _normalise(reading)
        grams.extend(kana[i : i + n] for i in range(len(kana) - n + 1))
    return len(set(grams)) / len(grams) if grams else 0.0


def self_bleu(readings: Sequence[str]) -> float:
    """Mean sentence BLEU (character level) of each reading against all the others, 0–100
    (lower = more diverse). Undefined for fewer than two verses: returns 0."""
    texts = [_normalise(r) for r in readings if _normalise(r)]
    if len(texts) < 2:
        return 0.0
    bleu = BLEU(tokenize="char", effective_order=True)
    scores = [
        bleu.sentence_score(text, texts[:i] + texts[i + 1 :]).score for i, text in enumerate(texts)
    ]
    return statistics.fmean(scores)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100), linear interpolation; NaN for no values."""
    return float(np.percentile(values, q)) if len(values) else float("nan")


def content_lemmas(text: str) -> Counter[str]:
    """The content words of a verse as a multiset of lemmas: the words the reranker's overlap
    with the 前句 counts (prosody.analysis.content_lemmas, one definition for both)."""
    return Counter(analysis.content_lemmas(text))


def content_f1(generated: str, reference: str) -> float:
    """F1 of the content lemmas of `generated` against `reference` (multiset overlap, as token
    F1 is computed in reading comprehension). 1.0 when neither has a content word, 0.0 when only
    one has. A weak signal for verse: a 付句 can link well with none of the reference's words."""
    got, want = content_lemmas(generated), content_lemmas(reference)
    if not got or not want:
        return float(not got and not want)
    common = sum((got & want).values())
    if not common:
        return 0.0
    precision, recall = common / sum(got.values()), common / sum(want.values())
    return 2 * precision * recall / (precision + recall)
