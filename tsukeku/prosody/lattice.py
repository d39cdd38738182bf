"""The reading lattice of a text: every reading any source gives, span by span, with its cost.

Sources, in order of authority: ruby in the text (ruby.py), the poetic lexicon and MeCab's
N-best analyses (edges.py). A reading is a path through the lattice (path.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import NamedTuple

from tsukeku.prosody import candidates, edges
from tsukeku.prosody.costs import EPS, UNKNOWN, VOWELS
from tsukeku.prosody.edges import Forced, RankedAnalysis
from tsukeku.prosody.kana import LETTER_NAMES, is_kana, is_separator, kana_morae
from tsukeku.prosody.path import Step, best_path, path_morae
from tsukeku.prosody.ruby import parse_pieces

UNKNOWN_MORA = "〓"
_new = tuple.__new__  # faster than a NamedTuple's own __new__ (edges are made per analysis)


class Edge(NamedTuple):
    """A reading of the text from the edge's start (its index in ``Lattice.edges``) to ``end``."""

    end: int
    reading: str
    morae: int
    cost: float
    vowel: bool  # holds a bare vowel (あいうお: costs.meter_cost)
    inner_vowel: bool  # holds one after its first kana (what counts at the start of a ku)

    @classmethod
    def of(cls, end: int, reading: str, cost: float) -> Edge:
        morae = (
            len(reading)
            if reading[:1] == UNKNOWN_MORA
            else kana_morae(reading)
            if reading.strip()
            else 0
        )
        vowel = not VOWELS.isdisjoint(reading) and _bare_vowel_at(reading) < len(reading)
        inner = vowel and _bare_vowel_at(reading, 1) < len(reading)
        return _new(cls, (end, reading, morae, cost, vowel, inner))


# Within one word's reading, う after an o- or u-row kana and い after an e-row one lengthen
# that kana (じゅう, けい): a long vowel, not one that can stand alone and elide (the 字余り of
# costs.meter_cost). お after an o-row kana is left bare: phrase edges span words (の|おと).
_LENGTHENS = {
    "う": frozenset("おこごそぞとどのほぼぽもよょろをうくぐすずつづぬふぶぷむゆゅるゅ"),
    "い": frozenset("えけげせぜてでねへべぺめれ"),
}


def _bare_vowel_at(reading: str, start: int = 0) -> int:
    """Index of the first vowel of ``reading`` from ``start`` that is not a long vowel
    (len(reading) when none)."""
    for i in range(start, len(reading)):
        ch = reading[i]
        if ch in VOWELS and not (i and reading[i - 1] in _LENGTHENS.get(ch, ())):
            return i
    return len(reading)


@dataclass
class Lattice:
    """Readings of one text, position by position (positions index ``text``)."""

    original: str  # normalised input, markup included
    text: str  # analysed text (markup removed, numbers as kanji numerals)
    to_original: list[int]  # position in text → position in original (len(text)+1 items)
    edges: list[list[Edge]]  # start → edges from there, sorted
    blocked: set[int] = field(default_factory=set)  # no ku boundary here (inside a unit)
    # MeCab's analyses of the text: word boundaries for split_ku
    _analyses: list[RankedAnalysis] | None = None
    fixed: list[tuple[int, int]] = field(default_factory=list)  # ruby and numbers: read as given
    _extended: Lattice | None = None

    def path(self, expected: int | None = None) -> tuple[list[Step], float]:
        """Cheapest reading path and its cost (nearest ``expected`` morae when given). Where no
        path of this lattice fits ``expected``, the lattice with the dictionary's weaker
        candidates (``extended``) is searched instead."""
        path, cost = best_path(self, 0, len(self.text), expected)
        if expected is None or path_morae(path) == expected:
            return path, cost
        ext = self.extended()
        return (path, cost) if ext is self else best_path(ext, 0, len(self.text), expected)

    def extended(self) -> Lattice:
        """This lattice with the weaker candidates of candidates.py added (built once, when a
        meter first asks for them); spans read as given (ruby, numbers) get none."""
        if self._extended is not None:
            return self._extended
        pending: edges.Pending = [{(e.end, e.reading): e.cost for e in es} for es in self.edges]
        added = False

        def add(s: int, e: int, reading: str, cost: float) -> None:
            nonlocal added
            if any(s < fe and e > fs for fs, fe in self.fixed):
                return
            key = (e, reading)
            cur = pending[s].get(key)
            if cur is None or cost < cur:
                pending[s][key] = cost
                added = True

        candidates.add_candidate_edges(self.text, pending, add)
        if not added:
            self._extended = self
            return self
        out = [sorted(Edge.of(e, r, c) for (e, r), c in d.items()) for d in pending]
        ext = replace(self, edges=out, _analyses=self._analyses, _extended=None)
        ext._extended = ext
        self._extended = ext
        return ext

    def analyses(self) -> list[RankedAnalysis]:
        """MeCab's analyses (kana-only text is analysed only when asked)."""
        if self._analyses is None:
            self._analyses = list(edges.ranked(self.text)) if self.text.strip() else []
        return self._analyses


def build_lattice(text: str, *, guess_unknown: bool = False) -> Lattice:
    """The reading lattice of normalised ``text`` (reading.validate). With ``guess_unknown`` a
    kanji that no source can read gets stand-in readings of one and two morae ("〓") at a
    high cost — enough for split_ku to place boundaries; reading and counting raise InputError
    instead."""
    original = text
    pieces = parse_pieces(original, count_plain)
    atext = "".join(p.text for p in pieces)
    n = len(atext)
    to_orig: list[int] = []
    blocked: set[int] = set()
    forced: list[Forced] = []
    numbers: list[tuple[int, int]] = []
    for p in pieces:
        at = len(to_orig)
        if p.number:
            numbers.append((at, at + len(p.text)))
        if p.atomic:
            to_orig.extend([p.start] * len(p.text))
            blocked.update(range(at + 1, at + len(p.text)))
        else:
            to_orig.extend(range(p.start, p.start + len(p.text)))
        if p.reading is not None:
            forced.append(Forced(at, at + len(p.text), p.reading))
    to_orig.append(len(original))
    pending: edges.Pending = [dict() for _ in range(n)]

    def add(s: int, e: int, reading: str, cost: float) -> None:
        key = (e, reading)
        cur = pending[s].get(key)
        if cur is None or cost < cur:
            pending[s][key] = cost

    # Separators, kana and letters read themselves.
    for i, ch in enumerate(atext):
        if ch == " ":
            add(i, i + 1, " ", 0.0)
        elif is_kana(ch):
            add(i, i + 1, edges.kana_text_reading(ch), EPS)
        elif ch.isascii() and ch.isalpha():
            add(i, i + 1, LETTER_NAMES[ch.lower()], EPS)
        elif is_separator(ch):
            add(i, i + 1, "", 0.0)

    word_analyses = None
    if any(not (is_kana(c) or is_separator(c)) for c in atext):
        word_analyses = edges.add_word_edges(atext, forced, numbers, blocked, add)
    edges.add_iteration_marks(atext, pending, add)
    # Ruby is authoritative: nothing else may read (part of) its base.
    for s, e, r in forced:
        for i in range(e):
            for key in [k for k in pending[i] if k[0] > s]:
                del pending[i][key]
        add(s, e, r, 0.0)
    edges.add_stem_probes(atext, pending, add)
    if guess_unknown:
        for i in edges.uncovered_kanji(atext, pending):
            add(i, i + 1, UNKNOWN_MORA, UNKNOWN)
            add(i, i + 1, UNKNOWN_MORA * 2, UNKNOWN)
    out_edges = [sorted(Edge.of(e, r, c) for (e, r), c in d.items()) for d in pending]
    fixed = [(f.start, f.end) for f in forced] + numbers
    return Lattice(original, atext, to_orig, out_edges, blocked, word_analyses, fixed)


@lru_cache(maxsize=4096)
def count_plain(text: str) -> int:
    """Morae of text without ruby of its own, an unreadable kanji guessed as one mora (used to
    size ruby bases)."""
    path, _ = build_lattice(text, guess_unknown=True).path(None)
    return path_morae(path)
