"""Ruby markup and numbers: the text split into free text and units with a given reading.

Ruby is the first source of a reading (see reading.py): `漢字〈かな〉` (the editor's angle
brackets), Aozora `｜漢字《かな》` / `漢字《かな》`, `漢字(かな)`. Brackets holding kanji or a
list (`まつ(松、待つ)`, `止めじ〈止めない〉`) are an editor's notes: not read. Digits become kanji numerals
for MeCab, as units no ku boundary may cut.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from tsukeku.prosody.kana import (
    HIRAGANA,
    is_kana,
    is_kanji,
    kana_morae,
    number_to_kanji,
    recite,
    to_hiragana,
)

_RUBY = re.compile(r"《([^《》]*)》|〈([^〈〉]*)〉|\(([^()]*)\)")
_NUMBER = re.compile(r"\d+(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Piece:
    """A stretch of the analysed text: free text, or a unit with a given reading."""

    text: str  # what MeCab sees (ruby base; digits turned into kanji numerals)
    start: int  # span in the normalised original text
    end: int
    reading: str | None = None  # ruby reading (recited), None for free text
    atomic: bool = False  # no ku boundary inside (ruby, numbers)
    number: bool = False  # digits, given to MeCab as kanji numerals


def parse_pieces(text: str, base_morae: Callable[[str], int]) -> list[Piece]:
    """Split normalised text into free text and ruby units (base + reading). ``base_morae``
    counts the usual morae of a candidate base (lattice.count_plain): where several spans of
    the text before a 〈〉 ruby agree with it, the one whose count is nearest the ruby's wins."""
    pieces: list[Piece] = []
    pos = 0  # start of text not yet given to a piece
    for m in _RUBY.finditer(text):
        ruby = m.group(1) or m.group(2) or m.group(3) or ""
        if m.start() < pos:
            continue
        if m.group(1) is None and not _is_ruby_text(ruby):
            # An editor's note: 他所〈よそ、四十〉 is ruby and a gloss (the ruby read, the gloss
            # not); まつ(松、待つ) or 止めじ〈止めない〉 only a gloss, never read aloud.
            first = ruby.split("、")[0]
            found = None
            if "、" in ruby and _is_ruby_text(first):
                found = _ruby_base(text, pos, m.start(), first, base_morae)
            if found is None:
                if _is_note(ruby, m.group(2) is not None):
                    if m.start() > pos:
                        pieces.extend(_free_pieces(text, pos, m.start()))
                    pieces.append(Piece(NOTE, m.start(), m.end(), None, True))
                    pos = m.end()
                continue
            ruby = first
        elif not _is_ruby_text(ruby):
            continue
        tail = ""  # okurigana between base and ruby that the ruby does not cover
        bar = max(text.rfind("|", pos, m.start()), text.rfind("｜", pos, m.start()))
        if bar >= 0:  # explicit base: ｜漢字《かな》
            unit_start, base_start, base_end = bar, bar + 1, m.start()
        elif m.group(1) is not None:  # Aozora: the run of kanji before 《》
            base_end = m.start()
            base_start = unit_start = _kanji_run_start(text, base_end, pos)
        else:  # 〈〉 and (): base found by aligning the ruby with the text before it
            found = _ruby_base(text, pos, m.start(), ruby, base_morae)
            if found is None:
                continue
            base_start, base_end = found
            unit_start = base_start
            tail = text[base_end : m.start()]
        if base_start >= base_end:
            continue
        reading = recite(ruby, historical=True)
        if unit_start > pos:
            pieces.extend(_free_pieces(text, pos, unit_start))
        if tail:
            # 山くらぶ〈やま〉: the ruby reads the kanji; the kana between are read as written.
            pieces.append(Piece(text[base_start:base_end], unit_start, base_end, reading, True))
            pieces.append(Piece(tail, base_end, m.end(), None, True))
        else:
            pieces.append(Piece(text[base_start:base_end], unit_start, m.end(), reading, True))
        pos = m.end()
    if pos < len(text):
        pieces.extend(_free_pieces(text, pos, len(text)))
    return pieces


NOTE = "、"  # what an editor's note stands as in the analysed text: a pause, read as nothing


def _is_note(s: str, angle: bool) -> bool:
    """Bracketed text an editor adds: a list of glosses (まつ(松、待つ)) or, in the editor's
    angle brackets, a translation (止めじ〈止めない〉). Other parentheses ((雪)) are read."""
    return "、" in s or (angle and any(is_kanji(c) for c in s))


def _kanji_run_start(text: str, end: int, lower: int) -> int:
    i = end
    while i > lower and is_kanji(text[i - 1]):
        i -= 1
    return i


def _is_ruby_text(s: str) -> bool:
    return bool(s) and all(is_kana(c) for c in s)


def _ruby_base(
    text: str, lower: int, bracket: int, ruby: str, base_morae: Callable[[str], int]
) -> tuple[int, int] | None:
    """Where a 〈〉 ruby begins and ends. The editor's ruby may cover the okurigana
    (凍れる〈こほれる〉, 匂う〈にほふ〉), kana inside the word (木の芽〈このめ〉) or only the last
    of several kanji (石走る〈ばしる〉), or begin in kana (あすか川〈あすかがは〉). Candidates are spans ending at the ruby (or, when the
    ruby cannot cover the kana before it, at the kanji: 山くらぶ〈やま〉 reads 山 = やま) whose
    kana agree with the ruby; the one whose usual reading is nearest the ruby's length wins,
    the longer one on a tie."""
    kanji_end = bracket
    while kanji_end > lower and text[kanji_end - 1] in HIRAGANA:
        kanji_end -= 1
    if kanji_end == lower or not is_kanji(text[kanji_end - 1]):
        return None
    starts = []
    i, kana_runs = kanji_end, 0
    while i > lower and bracket - i < 8:
        if is_kanji(text[i - 1]):
            i -= 1
            starts.append(i)
        elif text[i - 1] in HIRAGANA and kana_runs < 2:
            j = i
            while j > lower and text[j - 1] in HIRAGANA and i - j < 4:
                j -= 1
            kana_runs += 1
            if j == lower or not is_kanji(text[j - 1]):
                starts.extend(range(i - 1, j - 1, -1))  # a word begun in kana: あすか川
                break
            i = j
        else:
            break
    for end in (bracket, kanji_end) if kanji_end < bracket else (bracket,):
        fits = [s for s in starts if _ruby_aligns(text[s:end], ruby)]
        if len(fits) == 1:
            return fits[0], end
        if fits:
            target = kana_morae(recite(ruby))
            return min(fits, key=lambda s: (abs(base_morae(text[s:end]) - target), s)), end
    return None


def _ruby_aligns(base: str, ruby: str) -> bool:
    """Do the kana of ``base`` occur in ``ruby`` in order, with kanji groups between?"""
    pattern = []
    for is_k, run in _runs(base):
        if is_k:
            pattern.append("(.+)")
        else:
            raw = re.escape(to_hiragana(run))
            medial = re.escape(recite("あ" + to_hiragana(run))[1:])
            pattern.append(f"(?:{raw}|{medial})")
    rx = re.compile("".join(pattern))
    r = to_hiragana(ruby)
    return bool(rx.fullmatch(r) or rx.fullmatch(recite(r)))


def _runs(s: str) -> list[tuple[bool, str]]:
    out: list[tuple[bool, str]] = []
    for ch in s:
        k = is_kanji(ch)
        if out and out[-1][0] == k:
            out[-1] = (k, out[-1][1] + ch)
        else:
            out.append((k, ch))
    return out


def _free_pieces(text: str, start: int, end: int) -> list[Piece]:
    out: list[Piece] = []
    pos = start
    for m in _NUMBER.finditer(text, start, end):
        if m.start() > pos:
            out.append(Piece(text[pos : m.start()], pos, m.start()))
        out.append(Piece(_number_text(m.group()), m.start(), m.end(), None, True, True))
        pos = m.end()
    if pos < end:
        out.append(Piece(text[pos:end], pos, end))
    return out


def _number_text(digits: str) -> str:
    digits = digits.replace(",", "")
    whole, _, frac = digits.partition(".")
    out = number_to_kanji(whole)
    if frac:
        out += "点" + "".join("〇一二三四五六七八九"[int(d)] for d in frac)
    return out
