"""Inline ruby as written in some editions: `一年〈ひととせ〉を` — the kana in angle brackets read
the word just before them.

The edition does not mark where the word starts, so the base is found by alignment: every
candidate base that starts at a kanji and ends at the bracket is matched against the ruby (each
kanji run reads 1–4 kana per kanji, each kana must match itself); the candidate that aligns the
most kana wins, and on a tie the longest (ruby normally covers a whole compound). The result is a
list of segments from which both the plain surface and a kana "hint" text (ruby substituted)
are rebuilt, and positions in one map onto the other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import jaconv

_RUBY = re.compile(r"〈([^〈〉]*)〉")
_NOTE = re.compile(r"[（(][^（）()]*[）)]")  # editorial notes such as (松、待つ)
_KANJI = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆ヶ]")
_KANA = re.compile(r"[\u3041-\u309f\u30a0-\u30ff]")
_MAX_BASE = 12


@dataclass(frozen=True)
class Segment:
    surface: str
    kana: str | None = None  # the ruby; None where the surface reads as written

    @property
    def hint(self) -> str:
        return self.kana if self.kana is not None else self.surface


def _runs(base: str) -> list[tuple[bool, str]]:
    """(is_kanji, run) pieces of base."""
    out: list[tuple[bool, str]] = []
    for ch in base:
        k = bool(_KANJI.match(ch))
        if out and out[-1][0] == k:
            out[-1] = (k, out[-1][1] + ch)
        else:
            out.append((k, ch))
    return out


def _score(base: str, ruby: str) -> int | None:
    """Kana of base aligned with ruby, or None when base cannot be read as ruby."""
    pattern, literal = [], 0
    for is_kanji, run in _runs(base):
        if is_kanji:
            pattern.append(f"(.{{{len(run)},{4 * len(run)}}})")
        else:
            pattern.append(re.escape(jaconv.kata2hira(run)))
            literal += len(run)
    if re.fullmatch("".join(pattern), jaconv.kata2hira(ruby)):
        return literal
    return None


def _base_span(pre: str, ruby: str) -> tuple[int, int]:
    """(start, end) in pre of the text the ruby reads."""
    best: tuple[int, int, int] | None = None  # (score, length, start)
    for start in range(max(0, len(pre) - _MAX_BASE), len(pre)):
        if not _KANJI.match(pre[start]):
            continue
        score = _score(pre[start:], ruby)
        if score is None:
            continue
        cand = (score, len(pre) - start, start)
        if best is None or cand[:2] > best[:2]:
            best = cand
    if best is not None:
        return best[2], len(pre)
    # No alignment: the kanji run before the bracket (with its okurigana when the ruby
    # repeats them), or, with no kanji at all, as many trailing kana as the ruby has.
    m = re.search(
        r"([\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆ヶ]*)([^\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆ヶ]*)$",
        pre,
    )
    kanji, tail = (m.group(1), m.group(2)) if m else ("", "")
    if kanji:
        start = len(pre) - len(tail) - len(kanji)
        if tail and jaconv.kata2hira(ruby).endswith(jaconv.kata2hira(tail)):
            return start, len(pre)
        return start, start + len(kanji)
    n = min(len(ruby), len(tail))
    return len(pre) - n, len(pre)


def parse(text: str) -> list[Segment]:
    """Segments of a text with inline ruby; editorial notes in parentheses are dropped."""
    text = _NOTE.sub("", text)
    segments: list[Segment] = []
    pos = 0
    for m in _RUBY.finditer(text):
        pre = text[pos : m.start()]
        ruby = re.split(r"[、,，]", m.group(1))[0].strip()
        if ruby:
            start, end = _base_span(pre, ruby)
            pieces = [Segment(pre[:start]), Segment(pre[start:end], ruby), Segment(pre[end:])]
        else:
            pieces = [Segment(pre)]
        segments.extend(p for p in pieces if p.surface or p.kana)
        pos = m.end()
    if pos < len(text):
        segments.append(Segment(text[pos:]))
    return segments


def surface(segments: list[Segment]) -> str:
    return "".join(s.surface for s in segments)


def hint(segments: list[Segment]) -> str:
    return "".join(s.hint for s in segments)


def boundaries(segments: list[Segment]) -> list[tuple[int, int]]:
    """Positions (in surface, in hint) where the two texts can be cut at the same place: every
    character of plain text, and both ends of each ruby segment."""
    out = [(0, 0)]
    s = h = 0
    for seg in segments:
        if seg.kana is None:
            for _ in seg.surface:
                s += 1
                h += 1
                out.append((s, h))
        else:
            s += len(seg.surface)
            h += len(seg.kana)
            out.append((s, h))
    return out


def cut(segments: list[Segment], hint_cuts: list[int]) -> list[tuple[str, str]]:
    """Cuts the text at the given positions of the hint (snapped to the nearest place where
    surface and hint can both be cut) and returns (surface, hint) pieces."""
    bounds = boundaries(segments)
    s_text, h_text = surface(segments), hint(segments)
    chosen = [(0, 0)]
    for c in hint_cuts:
        b = min(bounds, key=lambda p: (abs(p[1] - c), -p[1]))
        if b[1] > chosen[-1][1]:
            chosen.append(b)
    chosen.append((len(s_text), len(h_text)))
    return [
        (s_text[a[0] : b[0]], h_text[a[1] : b[1]])
        for a, b in zip(chosen, chosen[1:], strict=False)
        if b[1] > a[1]
    ]


def has_kana(text: str) -> bool:
    return bool(_KANA.search(text))
