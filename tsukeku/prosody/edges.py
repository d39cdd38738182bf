"""The lattice's edge sources after ruby: the poetic lexicon, MeCab's N-best analyses (of the
text, of its classical okurigana spelt as modern, of the stretches between ruby), iteration
marks and the stems of words the dictionary knows only in their modern form.

Every source calls ``add(start, end, reading, cost)`` on the lattice being built
(lattice.build_lattice keeps the cheapest cost per span and reading); ``pending`` is that map,
position → {(end, reading): cost}, for the sources that look at what is already there.
"""

from __future__ import annotations

import operator
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import NamedTuple

from tsukeku.prosody.analysis import Morpheme, analyses
from tsukeku.prosody.costs import ALT, EPS, OVERLAP, RANK, TILE, UNKNOWN, VARIANT
from tsukeku.prosody.kana import (
    HIRAGANA,
    is_kana,
    is_kanji,
    is_separator,
    recite,
    to_hiragana,
)
from tsukeku.prosody.lexicon import load_lexicon

N_BEST = 10

Add = Callable[[int, int, str, float], None]
Pending = list[dict[tuple[int, str], float]]


class RankedAnalysis(NamedTuple):
    """One of MeCab's analyses and the rank of its reading among the N-best (0: the best)."""

    rank: int
    words: list[Morpheme]

    @property
    def cost(self) -> float:
        return RANK * self.rank


class Forced(NamedTuple):
    """A span whose reading ruby gives (authoritative: nothing else may read inside it)."""

    start: int
    end: int
    reading: str


class StrongWord(NamedTuple):
    """A lexicon word that MeCab may not overrule on its span (see add_lexicon_edges)."""

    start: int
    end: int
    okuri_end: int  # for a stem, the end of its okurigana; 0 for a word


@lru_cache(maxsize=4096)
def kana_text_reading(s: str) -> str:
    """Reading of kana written in the text: kept as written (ゐゑ → いえ)."""
    return recite("".join(c for c in s if is_kana(c)), historical=False)


@lru_cache(maxsize=65536)
def word_reading(surface: str, kana: str) -> str | None:
    """Reading of a MeCab word (None when it cannot give one)."""
    if all(is_kana(c) for c in surface):
        return kana_text_reading(surface)
    if all(is_separator(c) for c in surface):
        return ""
    if any(c.isascii() and (c.isalpha() or c.isdigit()) for c in surface):
        return None  # letters are read by name, digits were turned into kanji numerals
    if kana == "*" or not kana or not all(is_kana(c) for c in kana):
        return None
    return to_hiragana(kana)


_SPAN_AND_KANA = operator.attrgetter("start", "end", "kana")  # what makes a reading distinct


def ranked(text: str) -> Iterator[RankedAnalysis]:
    """MeCab's N-best analyses of ``text``, ranked by distinct readings: analyses that differ
    only in part of speech do not push the next reading further down."""
    seen: dict[tuple, int] = {}
    for words in analyses(text, N_BEST):
        key = tuple(map(_SPAN_AND_KANA, words))
        if key not in seen:
            seen[key] = len(seen)
            yield RankedAnalysis(seen[key], words)


# --- MeCab and the lexicon ------------------------------------------------------------------------


def add_word_edges(
    atext: str,
    forced: list[Forced],
    numbers: list[tuple[int, int]],
    blocked: set[int],
    add: Add,
) -> list[RankedAnalysis]:
    """Edges of the lexicon and of MeCab's words over ``atext`` (strong lexicon words join
    ``blocked``: no ku boundary inside them); returns the analyses of the whole text (word
    boundaries for split_ku)."""
    n = len(atext)
    # (offset, analysis, analysed text): the text itself, its classical okurigana read as
    # modern (縫ふ → 縫う: the dictionary is of modern Japanese), and the stretches between ruby.
    found = [(0, a, atext) for a in ranked(atext)]
    tokens = found[0][1].words if found else []
    variant, changed = modern_variant(atext)
    # Words of the variant that join a kanji with changed kana (合わせ, 住まい): an
    # analysis of the original that cuts across one of them (合/はせ) knows less.
    confirmed: list[tuple[int, int]] = []
    if variant is not None:
        for a in ranked(variant):
            found.append((0, a, variant))
            if a.rank <= 1:
                confirmed += [
                    (w.start, w.end)
                    for w in a.words
                    if any(w.start < p < w.end for p in changed)
                    and any(is_kanji(c) for c in variant[w.start : w.end])
                ]
    for a, b in _free_stretches(n, forced):
        if (a, b) != (0, n) and atext[a:b].strip():
            found += [(a, r, atext) for r in ranked(atext[a:b])]
    # A stretch's words count at their offsets within the stretch, as they always have: the
    # readings the benchmark and the tests pin down were found with these bounds.
    any_bounds = {x for _o, a, _s in found for w in a.words for x in (w.start, w.end)}
    strong = add_lexicon_edges(atext, tokens, any_bounds, add)
    for word in strong:
        blocked.update(range(word.start + 1, word.end))
    word_analyses = []
    seen: dict[tuple, float] = {}
    for offset, a, source in found:
        acost = a.cost
        if offset == 0:
            word_analyses.append(a)
        for w in a.words:
            s, e = w.start + offset, w.end + offset
            key = (s, e, w.kana, source is atext)
            if seen.get(key, acost + 1) <= acost:  # the same word, no cheaper
                continue
            seen[key] = acost
            if any(s < b < e or s < a < e for a, b in numbers):
                continue  # a number is read as a number (3本 is not the name 三本 ミモト)
            surface = source[s:e]
            if source is not atext and all(is_kana(c) for c in surface):
                surface = atext[s:e]  # kana are read as written, whatever the variant
            reading = word_reading(surface, w.kana)
            if reading is None:
                continue
            cost = EPS + acost
            if (
                source is atext
                and not all(is_kana(c) for c in surface)
                and any(a < e < b or a < s < b for a, b in confirmed)
            ):
                # A kanji read apart from its classical okurigana (訪/ふ = ホウ + ふ):
                # the analysis of the modern spelling (訪う = トウ) knows better.
                cost += VARIANT
            if not all(is_kana(c) for c in surface) and any(
                _overrules(s, e, word) for word in strong
            ):
                cost += OVERLAP
            add(s, e, reading, cost)
    return word_analyses


_MODERN_OKURI = {
    "は": "わ", "ひ": "い", "ふ": "う", "へ": "え", "ほ": "お", "ぢ": "じ", "ゐ": "い", "ゑ": "え",
}  # fmt: skip


def modern_variant(atext: str) -> tuple[str | None, set[int]]:
    """The text with classical okurigana (the first two kana after a kanji) spelt as modern
    (思ひ → 思い, 合はせ → 合わせ, 賑はひ → 賑わい, 閉ぢ → 閉じ, ゐ → い), same length, and the changed positions; (None, ∅) when nothing
    changes. A particle after a kanji changes too (春は → 春わ): harmless, since the variant
    only adds candidates, and only a word spanning kanji and changed kana (合わせ) counts as
    the variant knowing better (see add_word_edges)."""
    chars = list(atext)
    changed: set[int] = set()
    for i, ch in enumerate(atext):
        second = i > 1 and is_kanji(atext[i - 2]) and atext[i - 1] in HIRAGANA
        if ch in "ゐゑ" or (ch in _MODERN_OKURI and i and (is_kanji(atext[i - 1]) or second)):
            chars[i] = _MODERN_OKURI[ch]
            changed.add(i)
    return ("".join(chars) if changed else None), changed


def _free_stretches(n: int, forced: Iterable[Forced]) -> list[tuple[int, int]]:
    out, pos = [], 0
    for s, e, _r in sorted(forced):
        if s > pos:
            out.append((pos, s))
        pos = e
    if pos < n:
        out.append((pos, n))
    return out


def add_lexicon_edges(
    atext: str, tokens: list[Morpheme], any_bounds: set[int], add: Add
) -> list[StrongWord]:
    """Lexicon words as edges; returns the strong ones, which MeCab may not overrule
    (_overrules). A word is strong where it stands as a word:

    - not inside a run of kanji that MeCab reads as one word (夜 in 夜道, 夜半); a longer
      word may end where any analysis ends a word (桜花 before 咲き); a one-kanji word inside
      a run only next to a verb or adjective (夜 in 夜更けて), never in a compound of nouns
      (葉桜, 古時計) nor as a counter after a numeral (四年 = よねん);
    - a one-kanji noun before kana only where MeCab ends a word there (夜を, 心あらば; not
      香る, 言へ); a 語幹 only before its okurigana (憂き; not 墨染の, 写経する).

    Inside a run that MeCab reads as Sino-Japanese (身世 = シンセイ) a word is a weaker
    candidate (TILE) that the meter may still choose (身 + 世 = みよ): verse prefers native
    readings."""
    lex = load_lexicon()
    n = len(atext)
    best_bounds = {w.start for w in tokens} | {w.end for w in tokens}
    ending_at = {w.end: w for w in tokens}
    starting_at = {w.start: w for w in tokens}
    after_numeral = {w.end for w in tokens if w.pos2 == "数詞"}
    strong: list[StrongWord] = []
    for i in range(n):
        longest_strong = 0
        for entry in lex.matches_at(atext, i):  # longest first
            if entry.kind == "助字":
                continue  # weaker candidates (candidates.py), never a strong word
            e = i + len(entry.word)
            if e < longest_strong:
                continue  # inside a longer word found here (恋ひ, not 恋 + ひ)
            single = len(entry.word) == 1
            stem = entry.kind == "語幹"
            bounds = best_bounds if single else any_bounds
            in_run_start = i > 0 and is_kanji(atext[i - 1]) and is_kanji(atext[i])
            in_run_end = e < n and is_kanji(atext[e]) and is_kanji(atext[e - 1])
            start_ok = not in_run_start or (
                i in bounds and (not single or _verbal(ending_at.get(i)))
            )
            end_ok = not in_run_end or (e in bounds and (not single or _verbal(starting_at.get(e))))
            if single and e < n and atext[e] in HIRAGANA:
                if stem and atext[e] in "のがを":
                    continue  # a noun before a case particle (墨染の), not a stem
                if not stem and e not in best_bounds:
                    continue  # the kanji of a longer word (香る, 言へ)
            elif stem:
                continue  # a stem needs its okurigana
            is_strong = start_ok and end_ok and not (single and i in after_numeral)
            if not is_strong and not _sino_span(tokens, i, e):
                continue
            base = 0.0 if is_strong else TILE
            for k, r in enumerate(entry.readings):
                add(i, e, r, base + EPS + ALT * k)
            if is_strong:
                okuri_end = e
                while stem and okuri_end < n and atext[okuri_end] in HIRAGANA:
                    okuri_end += 1
                strong.append(StrongWord(i, e, okuri_end if stem else 0))
                longest_strong = max(longest_strong, e)
    return strong


def _overrules(s: int, e: int, word: StrongWord) -> bool:
    """Does a strong lexicon word overrule MeCab's word [s, e)? A word overrules every MeCab
    word overlapping it; a stem only MeCab's readings of the stem with its okurigana (寝む =
    やすむ, 憂/きもの), not a word that reads on past them (見せ合い)."""
    if word.okuri_end:
        return s <= word.start < e <= word.okuri_end
    return s < word.end and e > word.start


def _verbal(word: Morpheme | None) -> bool:
    return word is not None and word.pos1 in ("動詞", "形容詞", "助動詞")


def _sino_span(tokens: list[Morpheme], s: int, e: int) -> bool:
    """Do MeCab's words over [s, e) that hold kanji all read Sino-Japanese (or unknown)?"""
    over = [w for w in tokens if w.start < e and w.end > s]
    return bool(over) and all(w.goshu in ("漢", "*") for w in over)


# --- iteration marks and stems ------------------------------------------------------------------


def add_iteration_marks(atext: str, pending: Pending, add: Add) -> None:
    """々 that MeCab leaves unread repeats the word before it (瀬々 = せぜ/せせ)."""
    for i, ch in enumerate(atext):
        if ch != "々" or i == 0 or any(key[1] for key in pending[i]):
            continue
        for key, cost in [kc for j in range(max(0, i - 4), i) for kc in pending[j].items()]:
            end, r = key
            if end == i and r.strip():
                add(i, i + 1, r, cost + RANK)
                voiced = unicodedata.normalize("NFC", r[0] + "\u3099")
                if len(voiced) == 1:
                    add(i, i + 1, voiced + r[1:], cost + RANK)


_PROBE_ENDINGS = (
    "る", "む", "く", "す", "う", "つ", "ぶ", "ぐ", "い", "める", "れる", "える", "ける", "しい",
)  # fmt: skip


def add_stem_probes(atext: str, pending: Pending, add: Add) -> None:
    """A kanji no source reads alone may be the stem of a word the dictionary knows in its
    modern form (眺 in 眺むる: 眺める = ながめる → なが). Such stems are candidates, at the
    cost of a guess (UNKNOWN)."""
    for i in uncovered_kanji(atext, pending):
        for stem in _probe_stems(atext[i]):
            add(i, i + 1, stem, UNKNOWN)


def uncovered_kanji(atext: str, pending: Pending) -> list[int]:
    """Kanji that no edge with a reading spans."""
    if not any(is_kanji(c) for c in atext):
        return []
    covered = [False] * len(atext)
    for i, d in enumerate(pending):
        for e, r in d:
            if r.strip():
                for j in range(i, e):
                    covered[j] = True
    return [i for i, c in enumerate(atext) if is_kanji(c) and not covered[i]]


@lru_cache(maxsize=1024)
def _probe_stems(ch: str) -> tuple[str, ...]:
    stems: list[str] = []
    for ending in _PROBE_ENDINGS:
        words = analyses(ch + ending, 1)[0]
        if len(words) != 1 or words[0].kana in ("*", ""):
            continue
        kana = to_hiragana(words[0].kana)
        if kana.endswith(ending) and len(kana) > len(ending):
            stem = kana[: -len(ending)]
            if all(is_kana(c) for c in stem) and stem not in stems:
                stems.append(stem)
    return tuple(stems)


def clear_caches() -> None:
    kana_text_reading.cache_clear()
    word_reading.cache_clear()
    _probe_stems.cache_clear()
