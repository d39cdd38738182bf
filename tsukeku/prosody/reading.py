"""Text → recited reading (hiragana).

Sources, in order of authority:
1. ruby given in the text (`漢字〈かな〉`, Aozora `｜漢字《かな》` / `漢字《かな》`, `漢字(かな)`);
2. the poetic lexicon (data/lexicon.tsv: 露 = つゆ, 紅葉 = もみじ, 天の原 = あまのはら …);
3. MeCab with UniDic (unidic-lite) through fugashi, N-best analyses.

Every source adds edges (a span of the text with a reading and a cost) to one lattice over the
text (lattice.py). The reading is the cheapest path (path.py); when the caller knows how many
morae the text should have (`expected`: a ku of 5 or 7), the path minimises cost + distance from
the meter, so an alternative reading that fits wins over a first guess that does not — but only
readings some source actually gives are ever chosen (字余り is real: とまをあらみ stays 6).
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from tsukeku.errors import InputError
from tsukeku.prosody import dictionary, edges
from tsukeku.prosody.kana import is_separator, normalize
from tsukeku.prosody.lattice import Lattice, build_lattice, count_plain
from tsukeku.prosody.path import path_reading

__all__ = [
    "MAX_CHARS",
    "clear_caches",
    "guessing_lattice",
    "lattice",
    "path_reading",
    "reading",
    "validate",
]

MAX_CHARS = 1000

_BAD_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn"}


def validate(text: str) -> str:
    """Normalised text, or InputError saying what is wrong with it."""
    if not isinstance(text, str):
        raise InputError(f"expected text, got {type(text).__name__}")
    if len(text) > MAX_CHARS:
        raise InputError(
            f"text is {len(text):,} characters; the limit is {MAX_CHARS:,} — give one verse at a time"
        )
    for ch in text:
        if unicodedata.category(ch) in _BAD_CATEGORIES and ch not in "\t\n\r":
            raise InputError(
                f"text contains the control character U+{ord(ch):04X}; remove it and try again"
            )
    norm = normalize(text)
    norm = " ".join(norm.split())  # tabs, newlines and runs of spaces → one space
    if not norm:
        raise InputError("text is empty; give a verse, e.g. 'ふるいけや かわずとびこむ みずのおと'")
    if all(is_separator(c) for c in norm):
        raise InputError(f"text {text!r} has only spaces and punctuation; nothing to read")
    return norm


@lru_cache(maxsize=8192)
def _lattice_cached(text: str) -> Lattice:
    return build_lattice(text)


def lattice(text: str) -> Lattice:
    """Lattice of a text (validated and normalised); cached per distinct text."""
    return _lattice_cached(validate(text))


@lru_cache(maxsize=256)
def _guessing_lattice_cached(text: str) -> Lattice:
    return build_lattice(text, guess_unknown=True)


def guessing_lattice(text: str) -> Lattice:
    """Lattice where unreadable kanji get stand-in readings (for split_ku)."""
    return _guessing_lattice_cached(validate(text))


def clear_caches() -> None:
    """Forget cached analyses (benchmarks measure cold work)."""
    _lattice_cached.cache_clear()
    _guessing_lattice_cached.cache_clear()
    count_plain.cache_clear()
    edges.clear_caches()
    dictionary.clear_caches()


def reading(text: str, expected: int | None = None) -> str:
    """Hiragana reading of ``text`` as recited; spaces between ku are kept.

    ``expected``: the number of morae the text should have, when the caller knows it (a ku of 5
    or 7, a verse of 17): among the readings the sources give, the one nearest the meter wins.
    """
    path, _ = lattice(text).path(expected)
    return path_reading(path)
