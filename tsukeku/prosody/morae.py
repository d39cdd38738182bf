"""Mora counts of text and of its ku (space-separated parts)."""

from __future__ import annotations

from tsukeku.prosody.kana import is_kana, is_separator, kana_morae
from tsukeku.prosody.path import path_morae
from tsukeku.prosody.reading import lattice, validate


def _kana_count(norm: str) -> int | None:
    """Count of kana-only text without any analysis (None when the text needs reading)."""
    kana = []
    for c in norm:
        if is_kana(c):
            kana.append(c)
        elif not is_separator(c):
            return None
    return kana_morae("".join(kana))


def count_morae(text: str, expected: int | None = None) -> int:
    """Morae of ``text`` as recited. ``expected`` (when the caller knows the meter) picks, among
    the readings the sources give, the one nearest that count; it never forces it."""
    norm = validate(text)
    fast = _kana_count(norm)
    if fast is not None:
        return fast
    path, _ = lattice(norm).path(expected)
    return path_morae(path)


def split_spaced(text: str) -> list[str]:
    """The ku of spaced text (any run of whitespace separates ku)."""
    return validate(text).split(" ")


def ku_morae(text: str, expected: list[int] | tuple[int, ...] | None = None) -> list[int]:
    """Morae of each space-separated ku of ``text`` (one int per ku)."""
    kus = split_spaced(text)
    if expected is not None and len(expected) != len(kus):
        expected = None
    return [count_morae(k, expected[i] if expected else None) for i, k in enumerate(kus)]
