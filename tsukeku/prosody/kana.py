"""Kana: normalisation, historical kana (歴史的仮名遣い) to recitation, and the mora count.

A mora (音) is one kana of the recited reading, except the small kana that only colour the
previous one (ゃゅょぁぃぅぇぉゎ, their katakana forms, ヵヶゕゖ). っ, ん and ー count one each;
spaces and punctuation count nothing.
"""

from __future__ import annotations

import re
import unicodedata

import jaconv

from tsukeku.errors import InputError

# Small kana that do not make a mora of their own (katakana forms included; ヵヶ as in the brief).
SMALL_KANA = frozenset(
    "ゃゅょぁぃぅぇぉゎゕゖャュョァィゥェォヮヵヶㇰㇱㇲㇳㇴㇵㇶㇷㇸㇹㇺㇻㇼㇽㇾㇿ"
)

_HIRAGANA = {chr(c) for c in range(0x3041, 0x3097)}  # ぁ … ゖ
HIRAGANA = frozenset(_HIRAGANA)  # okurigana and particles after a kanji are among these
_KATAKANA = {chr(c) for c in range(0x30A1, 0x30FB)}  # ァ … ヺ
# ー (and the half-width form NFKC turns into it) counts as one mora: it lengthens a vowel.
_LONG = {"ー"}
KANA_CHARS = frozenset(_HIRAGANA | _KATAKANA | _LONG | set("ゝゞヽヾ"))

# Weight of each character in a kana string: 1 for a mora, 0 for small kana and separators.
_WEIGHT: dict[str, int] = {c: (0 if c in SMALL_KANA else 1) for c in _HIRAGANA | _KATAKANA}
_WEIGHT.update({"ー": 1, "ゝ": 1, "ゞ": 1, "ヽ": 1, "ヾ": 1, "・": 0, "゛": 0, "゜": 0})
for _c in " \t\n\r\u3000、。，．,.!?！？「」『』（）()〈〉《》【】〔〕［］[]…‥〜~―-—'\"“”‘’:;：；":
    _WEIGHT[_c] = 0
# Counting one string = summing the weights; a translate table deletes the zero-weight
# characters so that the count is len() of what is left (C speed, no Python loop per char).
_DELETE_UNCOUNTED = str.maketrans({c: None for c, w in _WEIGHT.items() if w == 0})
_DELETE_ALL_KNOWN = str.maketrans({c: None for c in _WEIGHT})

_KANJI_RANGES = (
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0x20000, 0x3FFFF),
)
KANJI_EXTRA = frozenset("々〆ヶ〇仝〻")


def is_kanji(ch: str) -> bool:
    if ch in KANJI_EXTRA:
        return True
    o = ord(ch)
    return any(lo <= o <= hi for lo, hi in _KANJI_RANGES)


def is_kana(ch: str) -> bool:
    return ch in KANA_CHARS


def is_separator(ch: str) -> bool:
    """Spaces and punctuation: read as nothing."""
    if ch in _WEIGHT and _WEIGHT[ch] == 0 and ch not in SMALL_KANA:
        return True
    cat = unicodedata.category(ch)
    return cat[0] in "PZ"


def kana_morae(kana: str) -> int:
    """Number of morae of a kana string (hiragana, katakana, ー, spaces and punctuation).

    Fast: called per vocabulary token by constrained decoding. Raises InputError on any other
    character (kanji, Latin …): those must go through `reading()` first.
    """
    if kana.translate(_DELETE_ALL_KNOWN):
        rest = kana.translate(_DELETE_ALL_KNOWN)
        raise InputError(
            f"kana_morae() counts kana only; {rest[0]!r} is not kana — use count_morae() for text"
        )
    return len(kana.translate(_DELETE_UNCOUNTED))


def to_hiragana(text: str) -> str:
    """Katakana → hiragana (ー and non-kana untouched; ヴ → ゔ, ヵヶ → ゕゖ)."""
    return jaconv.kata2hira(text)


# Kana that sound alike in recitation: old and modern spellings of one verse compare equal.
_SAME_SOUND = str.maketrans("ゐゑぢづを", "いえじずお")


def normalise_reading(reading: str) -> str:
    """The key two readings are compared by: NFKC, hiragana, kana and ー only, ゐゑぢづを
    folded to いえじずお."""
    hira = jaconv.kata2hira(unicodedata.normalize("NFKC", reading)).translate(_SAME_SOUND)
    return "".join(ch for ch in hira if "\u3041" <= ch <= "\u309f" or ch == "ー")


def normalize(text: str) -> str:
    """NFKC (full-width Latin/digits to ASCII, half-width katakana to full width, ｜ to |) and
    kana iteration marks expanded (ゝゞヽヾ repeat the previous kana, voiced for the ゛ forms)."""
    text = unicodedata.normalize("NFKC", text)
    if any(c in text for c in "ゝゞヽヾ"):
        text = expand_iteration_marks(text)
    return text


def expand_iteration_marks(text: str) -> str:
    out: list[str] = []
    for ch in text:
        if ch in "ゝゞヽヾ" and out and is_kana(out[-1]):
            prev = out[-1]
            base = unicodedata.normalize("NFD", prev)[0]  # strip a voicing mark
            if ch in "ゞヾ":
                voiced = unicodedata.normalize("NFC", base + "\u3099")
                out.append(voiced if len(voiced) == 1 else base)
            else:
                out.append(base)
        else:
            out.append(ch)
    return "".join(out)


# Medial は行 in historical kana is recited as わ行 (思ひ → おもい, こほれる → こおれる).
_HA_TO_WA = {"は": "わ", "ひ": "い", "ふ": "う", "へ": "え", "ほ": "お"}
_YOON_WORDS = {"けふ": "きょう", "てふ": "ちょう"}
_KWA = re.compile("([くぐ])わ")


def recite(kana: str, *, historical: bool = True) -> str:
    """Hiragana as recited today.

    Always: katakana → hiragana, ゐ → い, ゑ → え (never modern spellings), and the words
    けふ/てふ → きょう/ちょう. With ``historical`` (ruby, where editions of classical verse use
    historical kana): medial は行 → わ行 and くわ/ぐわ → か/が (Sino-Japanese kwa; the one rule
    here that changes the count). ``kana`` is one word or a short phrase: the
    first kana is word-initial.
    """
    s = to_hiragana(kana).replace("ゐ", "い").replace("ゑ", "え")
    if s in _YOON_WORDS:
        return _YOON_WORDS[s]
    if not historical or not s:
        return s
    s = _KWA.sub(lambda m: "か" if m.group(1) == "く" else "が", s)
    return s[:1] + "".join(_HA_TO_WA.get(c, c) for c in s[1:])


# Letters are read by their usual Japanese names ("CD" = しーでぃー).
LETTER_NAMES = {
    "a": "えー", "b": "びー", "c": "しー", "d": "でぃー", "e": "いー", "f": "えふ",
    "g": "じー", "h": "えいち", "i": "あい", "j": "じぇー", "k": "けー", "l": "える",
    "m": "えむ", "n": "えぬ", "o": "おー", "p": "ぴー", "q": "きゅー", "r": "あーる",
    "s": "えす", "t": "てぃー", "u": "ゆー", "v": "ぶい", "w": "だぶりゅー", "x": "えっくす",
    "y": "わい", "z": "ぜっと",
}  # fmt: skip

_DIGITS = "〇一二三四五六七八九"


def number_to_kanji(digits: str) -> str:
    """Arabic numerals → kanji numerals as read (2024 → 二千二十四, 0 → 零), so that MeCab
    reads them with counters and sound changes (三本 = さんぼん)."""
    n = int(digits)
    if n == 0:
        return "零"
    if len(digits) > 16:
        # Too long to be a number anyone recites: read digit by digit.
        return "".join(_DIGITS[int(d)] for d in digits)
    out = []
    for unit_value, unit in ((10**12, "兆"), (10**8, "億"), (10**4, "万"), (1, "")):
        chunk, n = divmod(n, unit_value)
        if chunk:
            out.append(_four_digits(chunk) + unit)
    return "".join(out)


def _four_digits(n: int) -> str:
    out = []
    for value, name in ((1000, "千"), (100, "百"), (10, "十")):
        q, n = divmod(n, value)
        if q:
            out.append(("" if q == 1 else _DIGITS[q]) + name)
    if n:
        out.append(_DIGITS[n])
    return "".join(out)
