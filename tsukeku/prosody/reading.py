"""Text → recited reading (hiragana).

Sources, in order of authority:
1. ruby given in the text (`漢字〈かな〉`, Aozora `｜漢字《かな》` / `漢字《かな》`, `漢字(かな)`);
2. the poetic lexicon (data/lexicon.tsv: 露 = つゆ, 紅葉 = もみじ, 天の原 = あまのはら …);
3. MeCab with UniDic (unidic-lite) through fugashi, N-best analyses.

Every source adds edges (a span of the text with a reading and a cost) to one lattice over the
text. The reading is the cheapest path; when the caller knows how many morae the text should
have (`expected`: a ku of 5 or 7), the path minimises cost + distance from the meter, so an
alternative reading that fits wins over a first guess that does not — but only readings some
source actually gives are ever chosen (字余り is real: とまをあらみ stays 6).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from tsukeku.errors import InputError
from tsukeku.prosody.kana import (
    LETTER_NAMES,
    is_kana,
    is_kanji,
    is_separator,
    kana_morae,
    normalize,
    number_to_kanji,
    recite,
    to_hiragana,
)
from tsukeku.prosody.lexicon import load_lexicon

MAX_CHARS = 1000
N_BEST = 10

# Costs of the lattice (a mora over the meter costs DEV). Chosen so that: the lexicon beats
# MeCab on the same span; a close MeCab alternative (rank 1-2) or the lexicon's second reading
# beats a one-mora miss of the meter, but only the lexicon's second reading beats a 字余り with
# a bare vowel (VOWEL_JIAMARI), which the rank-1 alternative (RANK) does not; a far-down
# analysis (rank ≥ 3) never beats a one-mora miss.
EPS = 0.01  # per edge: fewer, longer words win ties
RANK = 0.4  # per rank of the N-best analysis (distinct readings) an edge first appears in
ALT = 0.3  # per position of a reading in a lexicon entry's list
OVERLAP = 2.0  # MeCab edge overlapping a lexicon word
TILE = 0.1  # lexicon word inside a longer run of kanji (身世 = 身 + 世)
DEV = 1.0  # per mora over the expected count
UNDER = 1.5  # per mora under it
VOWEL_JIAMARI = 0.35  # one mora over, in a ku with a bare vowel (see meter_cost)
_VOWELS = frozenset("あいうお")
VARIANT = 0.2  # a kanji read apart from its classical okurigana (see _modern_variant)
UNKNOWN = 1.0  # a guessed reading for a kanji no source can read (split_ku only)
UNKNOWN_MORA = "〓"


@dataclass(frozen=True)
class Piece:
    """A stretch of the analysed text: free text, or a unit with a given reading."""

    text: str  # what MeCab sees (ruby base; digits turned into kanji numerals)
    start: int  # span in the normalised original text
    end: int
    reading: str | None = None  # ruby reading (recited), None for free text
    atomic: bool = False  # no ku boundary inside (ruby, numbers)
    number: bool = False  # digits, given to MeCab as kanji numerals


@dataclass
class Lattice:
    """Readings of one text, position by position (positions index ``text``)."""

    original: str  # normalised input, markup included
    text: str  # analysed text (markup removed, numbers as kanji numerals)
    to_original: list[int]  # position in text → position in original (len(text)+1 items)
    edges: list[list[tuple[int, str, int, float, bool, bool]]]  # start → edges (see _edge)
    blocked: set[int] = field(default_factory=set)  # no ku boundary here (inside a unit)
    # MeCab analyses as (cost, [(start, end, pos1, pos2)]): word boundaries for split_ku
    _analyses: list[tuple[float, list[tuple[int, int, str, str]]]] | None = None

    def path(self, expected: int | None = None) -> tuple[list[tuple[int, int, str, int]], float]:
        """Cheapest reading path: list of (start, end, reading, morae) and its cost."""
        return _best_path(self, 0, len(self.text), expected)

    def analyses(self) -> list[tuple[float, list[tuple[int, int, str, str]]]]:
        """MeCab's analyses with their cost (kana-only text is analysed only when asked)."""
        if self._analyses is None:
            self._analyses = (
                [
                    (RANK * r, [(a, b, p1, p2) for a, b, p1, p2, *_x in toks])
                    for r, toks in _ranked(mecab_analyses(self.text))
                ]
                if self.text.strip()
                else []
            )
        return self._analyses


# --- validation -------------------------------------------------------------------------------

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


# --- ruby and numbers ---------------------------------------------------------------------------

_RUBY = re.compile(r"《([^《》]*)》|〈([^〈〉]*)〉|\(([^()]*)\)")
_NUMBER = re.compile(r"\d+(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")


def _kanji_run_start(text: str, end: int, lower: int) -> int:
    i = end
    while i > lower and is_kanji(text[i - 1]):
        i -= 1
    return i


def _is_ruby_text(s: str) -> bool:
    return bool(s) and all(is_kana(c) for c in s)


def parse_pieces(text: str) -> list[Piece]:
    """Split normalised text into free text and ruby units (base + reading)."""
    pieces: list[Piece] = []
    pos = 0  # start of text not yet given to a piece
    for m in _RUBY.finditer(text):
        ruby = m.group(1) or m.group(2) or m.group(3) or ""
        if m.start() < pos or not _is_ruby_text(ruby):
            continue
        tail = ""  # okurigana between base and ruby that the ruby does not cover
        bar = max(text.rfind("|", pos, m.start()), text.rfind("｜", pos, m.start()))
        if bar >= 0:  # explicit base: ｜漢字《かな》
            unit_start, base_start, base_end = bar, bar + 1, m.start()
        elif m.group(1) is not None:  # Aozora: the run of kanji before 《》
            base_end = m.start()
            base_start = unit_start = _kanji_run_start(text, base_end, pos)
        else:  # 〈〉 and (): base found by aligning the ruby with the text before it
            found = _ruby_base(text, pos, m.start(), ruby)
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


_HIRAGANA_TAIL = frozenset(chr(c) for c in range(0x3041, 0x3097))


def _ruby_base(text: str, lower: int, bracket: int, ruby: str) -> tuple[int, int] | None:
    """Where a 〈〉 ruby begins and ends. The editor's ruby may cover the okurigana
    (凍れる〈こほれる〉, 匂う〈にほふ〉), kana inside the word (木の芽〈このめ〉) or only the last
    of several kanji (石走る〈ばしる〉), or begin in kana (あすか川〈あすかがは〉). Candidates are spans ending at the ruby (or, when the
    ruby cannot cover the kana before it, at the kanji: 山くらぶ〈やま〉 reads 山 = やま) whose
    kana agree with the ruby; the one whose usual reading is nearest the ruby's length wins,
    the longer one on a tie."""
    kanji_end = bracket
    while kanji_end > lower and text[kanji_end - 1] in _HIRAGANA_TAIL:
        kanji_end -= 1
    if kanji_end == lower or not is_kanji(text[kanji_end - 1]):
        return None
    starts = []
    i, kana_runs = kanji_end, 0
    while i > lower and bracket - i < 8:
        if is_kanji(text[i - 1]):
            i -= 1
            starts.append(i)
        elif text[i - 1] in _HIRAGANA_TAIL and kana_runs < 2:
            j = i
            while j > lower and text[j - 1] in _HIRAGANA_TAIL and i - j < 4:
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
            return min(fits, key=lambda s: (_length_gap(text[s:end], target), s)), end
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


def _length_gap(base: str, target: int) -> float:
    return abs(count_plain(base) - target)


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


# --- MeCab ----------------------------------------------------------------------------------------

_local = threading.local()


def tagger():
    """One fugashi tagger per thread (lazy): unidic-lite, output = surface, POS, kana."""
    t = getattr(_local, "tagger", None)
    if t is None:
        import fugashi
        import unidic_lite

        d = unidic_lite.DICDIR
        node = "'%m\\t%f[0]\\t%f[1]\\t%f[17]\\t%f[12]\\n'"
        unk = "'%m\\t%f[0]\\t%f[1]\\t*\\t*\\n'"
        t = fugashi.GenericTagger(
            f'-d "{d}" -r "{d}/mecabrc" -O "" --node-format={node} --unk-format={unk} '
            "--eos-format='EOS\\n' --bos-format=''"
        )
        _local.tagger = t
    return t


Token = tuple[int, int, str, str, str, str]


def mecab_analyses(text: str, n: int = N_BEST) -> list[list[Token]]:
    """N-best analyses of ``text``: lists of (start, end, pos1, pos2, kana, goshu); kana and
    goshu (word origin: 和 native, 漢 Sino-Japanese …) are '*' for unknown words."""
    out = tagger().nbest(text, n) if n > 1 else tagger().parse(text)
    analyses: list[list[Token]] = []
    toks: list[Token] = []
    pos = 0
    for line in out.split("\n"):
        if line == "EOS":
            analyses.append(toks)
            toks, pos = [], 0
            continue
        if not line:
            continue
        surface, pos1, pos2, kana, goshu = line.split("\t")
        start = text.find(surface, pos)
        if start < 0:  # MeCab never rewrites the text; be safe all the same
            continue
        pos = start + len(surface)
        toks.append((start, pos, pos1, pos2, kana, goshu))
    if toks:
        analyses.append(toks)
    return analyses


# --- the lattice ----------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _kana_text_reading(s: str) -> str:
    """Reading of kana written in the text: kept as written (ゐゑ → いえ)."""
    return recite("".join(c for c in s if is_kana(c)), historical=False)


def build_lattice(text: str, *, normalised: bool = False, guess_unknown: bool = False) -> Lattice:
    """The reading lattice of ``text``. With ``guess_unknown`` a kanji that no source can read
    gets stand-in readings of one and two morae ("〓") at a high cost — enough for split_ku to
    place boundaries; reading and counting raise InputError instead."""
    original = text if normalised else validate(text)
    pieces = parse_pieces(original)
    atext = "".join(p.text for p in pieces)
    n = len(atext)
    to_orig: list[int] = []
    blocked: set[int] = set()
    forced: list[tuple[int, int, str]] = []
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
            forced.append((at, at + len(p.text), p.reading))
    to_orig.append(len(original))
    edges: list[dict[tuple[int, str], float]] = [dict() for _ in range(n)]

    def add(s: int, e: int, reading: str, cost: float) -> None:
        key = (e, reading)
        cur = edges[s].get(key)
        if cur is None or cost < cur:
            edges[s][key] = cost

    # Separators, kana and letters read themselves.
    for i, ch in enumerate(atext):
        if ch == " ":
            add(i, i + 1, " ", 0.0)
        elif is_kana(ch):
            add(i, i + 1, _kana_text_reading(ch), EPS)
        elif ch.isascii() and ch.isalpha():
            add(i, i + 1, LETTER_NAMES[ch.lower()], EPS)
        elif is_separator(ch):
            add(i, i + 1, "", 0.0)

    word_analyses = None
    if any(not (is_kana(c) or is_separator(c)) for c in atext):
        # (offset, cost, tokens): the text itself, its classical okurigana read as modern
        # (縫ふ → 縫う: the dictionary is of modern Japanese), and the stretches between ruby.
        analyses = [(0, RANK * r, a, atext) for r, a in _ranked(mecab_analyses(atext))]
        tokens = analyses[0][2] if analyses else []
        variant, changed = _modern_variant(atext)
        # Words of the variant that join a kanji with changed kana (合わせ, 住まい): an
        # analysis of the original that cuts across one of them (合/はせ) knows less.
        confirmed: list[tuple[int, int]] = []
        if variant is not None:
            for r, toks in _ranked(mecab_analyses(variant)):
                analyses.append((0, RANK * r, toks, variant))
                if r <= 1:
                    confirmed += [
                        (t[0], t[1])
                        for t in toks
                        if any(t[0] < p < t[1] for p in changed)
                        and any(is_kanji(c) for c in variant[t[0] : t[1]])
                    ]
        for a, b in _free_stretches(n, forced):
            if (a, b) != (0, n) and atext[a:b].strip():
                analyses += [
                    (a, RANK * r, t, atext) for r, t in _ranked(mecab_analyses(atext[a:b]))
                ]
        any_bounds = {t[i] for _o, _c, toks, _s in analyses for t in toks for i in (0, 1)}
        strong = _add_lexicon_edges(atext, tokens, any_bounds, add)
        for s, e, _stem in strong:
            blocked.update(range(s + 1, e))
        word_analyses = []
        seen: dict[tuple, float] = {}
        for offset, acost, toks, source in analyses:
            if offset == 0:
                word_analyses.append((acost, [(s, e, p1, p2) for s, e, p1, p2, *_x in toks]))
            for s, e, pos1, _pos2, kana, _goshu in toks:
                s, e = s + offset, e + offset
                key = (s, e, kana, source is atext)
                if seen.get(key, acost + 1) <= acost:  # the same word, no cheaper
                    continue
                seen[key] = acost
                if any(s < b < e or s < a < e for a, b in numbers):
                    continue  # a number is read as a number (3本 is not the name 三本 ミモト)
                surface = source[s:e]
                if source is not atext and all(is_kana(c) for c in surface):
                    surface = atext[s:e]  # kana are read as written, whatever the variant
                reading = _token_reading(surface, pos1, kana)
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
                    _overrules(s, e, span) for span in strong
                ):
                    cost += OVERLAP
                add(s, e, reading, cost)
    _add_iteration_marks(atext, edges, add)
    # Ruby is authoritative: nothing else may read (part of) its base.
    for s, e, r in forced:
        for i in range(e):
            for key in [k for k in edges[i] if k[0] > s]:
                del edges[i][key]
        add(s, e, r, 0.0)
    _add_stem_probes(atext, edges, add)
    if guess_unknown:
        for i in _uncovered_kanji(atext, edges):
            add(i, i + 1, UNKNOWN_MORA, UNKNOWN)
            add(i, i + 1, UNKNOWN_MORA * 2, UNKNOWN)
    out_edges = [sorted(_edge(e, r, c) for (e, r), c in d.items()) for d in edges]
    return Lattice(original, atext, to_orig, out_edges, blocked, word_analyses)


_MODERN_OKURI = {
    "は": "わ", "ひ": "い", "ふ": "う", "へ": "え", "ほ": "お", "ぢ": "じ", "ゐ": "い", "ゑ": "え",
}  # fmt: skip


def _modern_variant(atext: str) -> tuple[str | None, set[int]]:
    """The text with classical okurigana (the first two kana after a kanji) spelt as modern
    (思ひ → 思い, 合はせ → 合わせ, 賑はひ → 賑わい, 閉ぢ → 閉じ, ゐ → い), same length, and the changed positions; (None, ∅) when nothing
    changes. A particle after a kanji changes too (春は → 春わ): harmless, since the variant
    only adds candidates, and only a word spanning kanji and changed kana (合わせ) counts as
    the variant knowing better (see build_lattice)."""
    chars = list(atext)
    changed: set[int] = set()
    for i, ch in enumerate(atext):
        second = i > 1 and is_kanji(atext[i - 2]) and atext[i - 1] in _HIRAGANA_TAIL
        if ch in "ゐゑ" or (ch in _MODERN_OKURI and i and (is_kanji(atext[i - 1]) or second)):
            chars[i] = _MODERN_OKURI[ch]
            changed.add(i)
    return ("".join(chars) if changed else None), changed


def _ranked(analyses):
    """(rank, analysis) where rank counts distinct readings: analyses that differ only in
    part of speech do not push the next reading further down."""
    seen: dict[tuple, int] = {}
    for toks in analyses:
        key = tuple((s, e, k) for s, e, _p1, _p2, k, _g in toks)
        if key not in seen:
            seen[key] = len(seen)
            yield seen[key], toks


def _add_iteration_marks(atext: str, edges, add) -> None:
    """々 that MeCab leaves unread repeats the word before it (瀬々 = せぜ/せせ)."""
    for i, ch in enumerate(atext):
        if ch != "々" or i == 0 or any(key[1] for key in edges[i]):
            continue
        for key, cost in [kc for j in range(max(0, i - 4), i) for kc in edges[j].items()]:
            end, r = key
            if end == i and r.strip():
                add(i, i + 1, r, cost + RANK)
                voiced = unicodedata.normalize("NFC", r[0] + "\u3099")
                if len(voiced) == 1:
                    add(i, i + 1, voiced + r[1:], cost + RANK)


def _edge(end: int, reading: str, cost: float) -> tuple[int, str, int, float, bool, bool]:
    """(end, reading, morae, cost, has a bare vowel, has one after its first kana)."""
    morae = (
        len(reading)
        if reading[:1] == UNKNOWN_MORA
        else kana_morae(reading)
        if reading.strip()
        else 0
    )
    return (
        end,
        reading,
        morae,
        cost,
        any(c in _VOWELS for c in reading),
        any(c in _VOWELS for c in reading[1:]),
    )


_PROBE_ENDINGS = (
    "る",
    "む",
    "く",
    "す",
    "う",
    "つ",
    "ぶ",
    "ぐ",
    "い",
    "める",
    "れる",
    "える",
    "ける",
    "しい",
)


def _add_stem_probes(atext: str, edges, add) -> None:
    """A kanji no source reads alone may be the stem of a word the dictionary knows in its
    modern form (眺 in 眺むる: 眺める = ながめる → なが). Such stems are candidates, at the
    cost of a guess (UNKNOWN)."""
    for i in _uncovered_kanji(atext, edges):
        for stem in _probe_stems(atext[i]):
            add(i, i + 1, stem, UNKNOWN)


def _uncovered_kanji(atext: str, edges) -> list[int]:
    """Kanji that no edge with a reading spans."""
    if not any(is_kanji(c) for c in atext):
        return []
    covered = [False] * len(atext)
    for i, d in enumerate(edges):
        for e, r in d:
            if r.strip():
                for j in range(i, e):
                    covered[j] = True
    return [i for i, c in enumerate(atext) if is_kanji(c) and not covered[i]]


@lru_cache(maxsize=1024)
def _probe_stems(ch: str) -> tuple[str, ...]:
    stems: list[str] = []
    for ending in _PROBE_ENDINGS:
        toks = mecab_analyses(ch + ending, 1)[0]
        if len(toks) != 1 or toks[0][4] in ("*", ""):
            continue
        kana = to_hiragana(toks[0][4])
        if kana.endswith(ending) and len(kana) > len(ending):
            stem = kana[: -len(ending)]
            if all(is_kana(c) for c in stem) and stem not in stems:
                stems.append(stem)
    return tuple(stems)


def _free_stretches(n: int, forced: list[tuple[int, int, str]]) -> list[tuple[int, int]]:
    out, pos = [], 0
    for s, e, _r in sorted(forced):
        if s > pos:
            out.append((pos, s))
        pos = e
    if pos < n:
        out.append((pos, n))
    return out


def _add_lexicon_edges(
    atext: str, tokens: list[Token], any_bounds: set[int], add
) -> list[tuple[int, int, int]]:
    """Lexicon words as edges; returns the 'strong' ones (start, end, for a stem the end of its
    okurigana else 0),
    which MeCab may not overrule (_overrules). A word is strong where it stands as a word:

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
    best_bounds = {t[0] for t in tokens} | {t[1] for t in tokens}
    ending_at = {t[1]: t for t in tokens}
    starting_at = {t[0]: t for t in tokens}
    after_numeral = {t[1] for t in tokens if t[3] == "数詞"}
    strong: list[tuple[int, int, int]] = []
    for i in range(n):
        longest_strong = 0
        for entry in lex.matches_at(atext, i):  # longest first
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
            if single and e < n and atext[e] in _HIRAGANA_TAIL:
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
                while stem and okuri_end < n and atext[okuri_end] in _HIRAGANA_TAIL:
                    okuri_end += 1
                strong.append((i, e, okuri_end if stem else 0))
                longest_strong = max(longest_strong, e)
    return strong


def _overrules(s: int, e: int, span: tuple[int, int, int]) -> bool:
    """Does a strong lexicon word overrule MeCab's word [s, e)? A word overrules every MeCab
    word overlapping it; a stem only MeCab's readings of the stem with its okurigana (寝む =
    やすむ, 憂/きもの), not a word that reads on past them (見せ合い)."""
    ss, se, okuri_end = span
    if okuri_end:
        return s <= ss < e <= okuri_end
    return s < se and e > ss


def _verbal(token: Token | None) -> bool:
    return token is not None and token[2] in ("動詞", "形容詞", "助動詞")


def _sino_span(tokens: list[Token], s: int, e: int) -> bool:
    """Do MeCab's words over [s, e) that hold kanji all read Sino-Japanese (or unknown)?"""
    over = [t for t in tokens if t[0] < e and t[1] > s]
    return bool(over) and all(t[5] in ("漢", "*") for t in over)


@lru_cache(maxsize=65536)
def _token_reading(surface: str, pos1: str, kana: str) -> str | None:
    if all(is_kana(c) for c in surface):
        return _kana_text_reading(surface)
    if all(is_separator(c) for c in surface):
        return ""
    if any(c.isascii() and (c.isalpha() or c.isdigit()) for c in surface):
        return None  # letters are read by name, digits were turned into kanji numerals
    if kana == "*" or not kana or not all(is_kana(c) for c in kana):
        return None
    return to_hiragana(kana)


def meter_cost(morae: int, expected: int, vowel: bool) -> float:
    """Cost of a ku of ``morae`` where ``expected`` are due. Over the meter (字余り) costs DEV a
    mora, under it (字足らず, much rarer in waka) UNDER a mora; one mora over costs only
    VOWEL_JIAMARI when the ku holds a bare vowel after its first mora (あいうお: Motoori
    Norinaga's rule — classical 字余り nearly always has one: とまをあらみ, はなのいろは)."""
    if morae == expected:
        return 0.0
    if morae < expected:
        return UNDER * (expected - morae)
    if morae == expected + 1 and vowel:
        return VOWEL_JIAMARI
    return DEV * (morae - expected)


def _best_path(
    lat: Lattice, start: int, end: int, expected: int | None
) -> tuple[list[tuple[int, int, str, int]], float]:
    """Dynamic programming over (position, morae so far, bare vowel seen)."""
    track = expected is not None
    # states[pos] = {(morae, vowel): (cost, prev_pos, prev_key, reading, morae_of_edge)}
    states: list[dict] = [dict() for _ in range(end + 1)]
    states[start][(0, False)] = (0.0, -1, None, "", 0)
    for i in range(start, end):
        if not states[i]:
            continue
        for (m, v), (c, *_rest) in list(states[i].items()):
            for e, r, k, ec, v_any, v_inner in lat.edges[i]:
                if e > end:
                    continue
                key = (m + k, v or (v_any if m else v_inner)) if track else (0, False)
                nc = c + ec
                cur = states[e].get(key)
                if cur is None or nc < cur[0] - 1e-12:
                    states[e][key] = (nc, i, (m, v), r, k)
    if not states[end]:
        _raise_unreadable(lat, start, end, states)
    if track:
        final = min(
            states[end],
            key=lambda kv: (states[end][kv][0] + meter_cost(kv[0], expected, kv[1]), kv[0]),
        )
    else:
        final = min(states[end], key=lambda kv: states[end][kv][0])
    total = states[end][final][0]
    path = []
    pos, key = end, final
    while pos != start:
        _c, pp, pkey, r, k = states[pos][key]
        path.append((pp, pos, r, k))
        pos, key = pp, pkey
    path.reverse()
    return path, total


def _raise_unreadable(lat: Lattice, start: int, end: int, states) -> None:
    # The first position reached from which no edge leads on holds the unreadable character.
    for i in range(start, end):
        if states[i] and not any(edge[0] <= end for edge in lat.edges[i]):
            ch = lat.text[i]
            hint = (
                f" — give its reading as ruby, e.g. {ch}〈かな〉"
                if is_kanji(ch)
                else " — write it in kana"
            )
            name = unicodedata.name(ch, "unnamed")
            raise InputError(
                f"cannot read {ch!r} (U+{ord(ch):04X} {name}) in {lat.original!r}{hint}"
            )
    raise InputError(f"cannot read {lat.original!r}")


# --- public ---------------------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def _lattice_cached(text: str) -> Lattice:
    return build_lattice(text, normalised=True)


def lattice(text: str) -> Lattice:
    """Lattice of a text (validated and normalised); cached per distinct text."""
    return _lattice_cached(validate(text))


@lru_cache(maxsize=256)
def _guessing_lattice_cached(text: str) -> Lattice:
    return build_lattice(text, normalised=True, guess_unknown=True)


def guessing_lattice(text: str) -> Lattice:
    """Lattice where unreadable kanji get stand-in readings (for split_ku)."""
    return _guessing_lattice_cached(validate(text))


def clear_caches() -> None:
    """Forget cached analyses (benchmarks measure cold work)."""
    _lattice_cached.cache_clear()
    _guessing_lattice_cached.cache_clear()
    _token_reading.cache_clear()
    _kana_text_reading.cache_clear()
    count_plain.cache_clear()
    _probe_stems.cache_clear()


def path_reading(path: list[tuple[int, int, str, int]]) -> str:
    return " ".join("".join(r for _s, _e, r, _m in path).split())


def reading(text: str, expected: int | None = None) -> str:
    """Hiragana reading of ``text`` as recited; spaces between ku are kept.

    ``expected``: the number of morae the text should have, when the caller knows it (a ku of 5
    or 7, a verse of 17): among the readings the sources give, the one nearest the meter wins.
    """
    lat = lattice(text)
    path, _ = lat.path(expected)
    return path_reading(path)


@lru_cache(maxsize=4096)
def count_plain(text: str) -> int:
    """Morae of text without ruby of its own, an unreadable kanji guessed as one mora (used to
    size ruby bases)."""
    lat = build_lattice(text, normalised=True, guess_unknown=True)
    path, _ = lat.path(None)
    return sum(m for *_x, m in path)
