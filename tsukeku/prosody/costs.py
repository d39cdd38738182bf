"""What a reading costs: the lattice's edge costs and the distance of a ku from the meter.

Chosen together, so that: the lexicon beats MeCab on the same span; a close MeCab alternative
(rank 1-2) or the lexicon's second reading beats a one-mora miss of the meter, but only the
lexicon's second reading beats a 字余り with a bare vowel (VOWEL_JIAMARI), which the rank-1
alternative (RANK) does not; a far-down analysis (rank ≥ 3) never beats a one-mora miss.
"""

from __future__ import annotations

EPS = 0.01  # per edge: fewer, longer words win ties
RANK = 0.4  # per rank of the N-best analysis (distinct readings) an edge first appears in
ALT = 0.3  # per position of a reading in a lexicon entry's list
OVERLAP = 2.0  # MeCab edge overlapping a lexicon word
TILE = 0.1  # lexicon word inside a longer run of kanji (身世 = 身 + 世)
VARIANT = 0.2  # a kanji read apart from its classical okurigana (see edges.modern_variant)
DICT = 0.45  # a dictionary reading no close analysis gives (candidates.py: 兵 = つわもの)
SINO = 0.3  # more for a lone kanji read Sino-Japanese by the dictionary (言 = ごん)
DICT_KANJI = 0.5  # a kanji read from the dictionary's words with okurigana (閑 = しずか)
CONTRACTED = 0.3  # historical kana read contracted, confirmed by the dictionary (ちやうど =
# ちょうど): below VOWEL_JIAMARI, since the large kana are a spelling, not a 字余り
UNKNOWN = 1.0  # a guessed reading for a kanji no source can read (split_ku only)
DEV = 1.0  # per mora over the expected count
UNDER = 1.5  # per mora under it
VOWEL_JIAMARI = 0.35  # one mora over, in a ku with a bare vowel (see meter_cost)
VOWELS = frozenset("あいうお")


def meter_cost(morae: int, expected: int, vowel: bool) -> float:
    """Cost of a ku of ``morae`` where ``expected`` are due. Over the meter (字余り) costs DEV a
    mora, under it (字足らず, much rarer in waka) UNDER a mora; one mora over costs only
    VOWEL_JIAMARI when the ku holds a bare vowel after its first mora (あいうお: Motoori
    Norinaga's rule — classical 字余り nearly always has one: とまをあらみ, はなのいろは)."""
    if morae == expected:
        return 0.0
    if morae < expected:
        return UNDER * (expected - morae)
    if morae == expected + 1 and vowel:
        return VOWEL_JIAMARI
    return DEV * (morae - expected)
