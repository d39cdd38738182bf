"""Prosody of Japanese verse: readings, morae, ku, form (see docs/prosody.md)."""

from tsukeku.prosody.form import (
    FORMS,
    Deviation,
    FormReport,
    check_form,
    other_form,
    split_ku,
)
from tsukeku.prosody.kana import kana_morae, normalise_reading
from tsukeku.prosody.morae import VerseCount, count_morae, count_verse, ku_morae
from tsukeku.prosody.reading import reading

__all__ = [
    "FORMS",
    "Deviation",
    "FormReport",
    "VerseCount",
    "check_form",
    "count_morae",
    "count_verse",
    "kana_morae",
    "ku_morae",
    "normalise_reading",
    "other_form",
    "reading",
    "split_ku",
]
