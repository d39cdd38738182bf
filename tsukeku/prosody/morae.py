"""Mora counts of text and of its ku (space-separated parts)."""

from __future__ import annotations

from typing import NamedTuple

from tsukeku.prosody.form import BY_KU_COUNT, FORMS
from tsukeku.prosody.kana import is_kana, is_separator, kana_morae
from tsukeku.prosody.path import path_morae, path_reading
from tsukeku.prosody.reading import lattice, validate


class VerseCount(NamedTuple):
    """A verse counted ku by ku (`tsukeku count`)."""

    ku: list[str]
    readings: list[str]
    ku_morae: list[int]

    @property
    def morae(self) -> int:
        return sum(self.ku_morae)

    def to_dict(self) -> dict:
        """Exactly the JSON of `tsukeku count --json`."""
        return {
            "text": " ".join(self.ku),
            "reading": " ".join(self.readings),
            "morae": self.morae,
            "ku_morae": list(self.ku_morae),
        }


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
    if fast is not None and (expected is None or fast == expected):
        return fast  # kana read as written (a meter they miss may find a contracted reading)
    path, _ = lattice(norm).path(expected)
    return path_morae(path)


def split_spaced(text: str) -> list[str]:
    """The ku of spaced text (any run of whitespace separates ku)."""
    return validate(text).split(" ")


def count_verse(text: str) -> VerseCount:
    """Reading and morae of each space-separated ku of ``text``. A verse spaced into the ku of
    a form (3: 5-7-5, 2: 7-7, 5: 5-7-5-7-7) is read with each ku's meter as a prior, as
    check_form reads it — the meter chooses among the readings the sources give, never
    forcing a count; a single ku or another number of ku is read without one."""
    kus = split_spaced(text)
    form = BY_KU_COUNT.get(len(kus))  # the form check_form's "auto" takes
    meter = FORMS[form] if form else None
    readings, morae = [], []
    for i, k in enumerate(kus):
        path, _ = lattice(k).path(meter[i] if meter else None)
        readings.append(path_reading(path))
        morae.append(path_morae(path))
    return VerseCount(kus, readings, morae)


def ku_morae(text: str, expected: list[int] | tuple[int, ...] | None = None) -> list[int]:
    """Morae of each space-separated ku of ``text`` (one int per ku); without ``expected``
    (or with a length that does not match) the form's meter is the prior (count_verse)."""
    kus = split_spaced(text)
    if expected is None or len(expected) != len(kus):
        return count_verse(text).ku_morae
    return [count_morae(k, expected[i]) for i, k in enumerate(kus)]
