"""The keys words are looked up by, so that kanji, kana and historical kana spellings of one word
meet: NFKC, hiragana, recited (medial は行 → わ行, ゐゑ → いえ, くわ → か) and ぢづを → じずお."""

from __future__ import annotations

import unicodedata

from tsukeku.prosody.kana import is_kana, recite, to_hiragana

_SAME_SOUND = str.maketrans("ぢづを", "じずお")


def word_key(text: str) -> str:
    """A spelling as written (NFKC, katakana folded to hiragana, nothing else changed)."""
    return to_hiragana(unicodedata.normalize("NFKC", text.strip()))


def kana_key(text: str) -> str:
    """A kana spelling as recited, historical and modern spellings folded together."""
    return recite(word_key(text)).translate(_SAME_SOUND)


def all_kana(text: str) -> bool:
    return bool(text) and all(is_kana(c) or c == "ー" for c in text)


def okuri_key(text: str) -> str | None:
    """A spelling with kanji, its okurigana dropped (木枯らし, 木枯し → 木枯; 焼き芋 → 焼芋), for
    the spellings a saijiki lists one way and a poet writes another; の is kept (菜の花).
    None for kana-only text."""
    key = word_key(text)
    if all_kana(key) or not key:
        return None
    out = "".join(c for c in key if not ("\u3041" <= c <= "\u3096") or c == "の")
    return out or None
