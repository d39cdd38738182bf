"""Verse classification: season, season words (季語), topics and 切字 of one verse.

Each ku is analysed by the prosody layer (MeCab/UniDic morphemes) and matched word by word
against the lexicon (saijiki + topic vocabulary): at each word the longest run of words that
spells an entry wins, tried as written, with the last word in its dictionary form (霞み →
霞む), with kanji stem + dictionary okurigana (逢は → 逢う), and as lemmas (つばくらめ → 燕);
spans written in kana are looked up by reading, historical spellings folded (かはづ = かわず).
A match never starts or ends inside a word, so 花 inside 花火 is never the blossom.

Labels given with a verse win: a given season is kept; given topics (a non-empty list) replace
the inferred ones (an empty list reads as "not labelled", since it is the records' default).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from tsukeku.prosody.analysis import Morpheme, analyse
from tsukeku.renga.keys import all_kana, kana_key, okuri_key, word_key
from tsukeku.renga.lexicon import TOPICS, Lexicon, Word, lexicon_for

VERSE_SEASONS = ("春", "夏", "秋", "冬")
# 新年 is folded into 冬 for a verse's season (the modern renku custom: the New Year verse sits
# in the winter run); a profile may map it elsewhere (see rules.Profile.new_year_as).
NEW_YEAR_AS = "冬"
_FUNCTION = {"助詞", "助動詞", "接尾辞", "接頭辞", "補助記号", "記号", "空白"}
_INFLECTING = {"動詞", "形容詞", "助動詞", "形状詞"}
_CONTENT = {"名詞", "動詞", "形容詞", "形状詞"}
_NOUNS = {"名詞", "形状詞", "代名詞"}
_GENERIC = {
    "事",
    "物",
    "為る",
    "居る",
    "有る",
    "成る",
    "来る",
    "見る",
    "言う",
    "行く",
    "此の",
    "其の",
}


@dataclass(frozen=True, slots=True)
class Kigo:
    word: str  # as written in the verse
    entry: str  # the saijiki headword
    season: str  # 春 夏 秋 冬 新年
    start: int  # offsets in the verse text
    end: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "word": self.word,
            "season": self.season,
            "start": self.start,
            "end": self.end,
            "entry": self.entry,
        }


@dataclass(frozen=True, slots=True)
class Classification:
    text: str
    season: str  # 春 夏 秋 冬 雑
    kigo: tuple[Kigo, ...]
    topics: tuple[str, ...]
    kireji: tuple[str, ...]
    season_given: bool = False
    topics_given: bool = False
    names: tuple[str, ...] = ()  # proper nouns (people or places)
    content: frozenset[str] = frozenset()  # content-word lemmas, for the 打越 warning

    def inferred_season(self, new_year_as: str = NEW_YEAR_AS) -> str:
        return season_of(self.kigo, new_year_as)

    def to_dict(self) -> dict[str, Any]:
        given = [k for k, g in (("season", self.season_given), ("topics", self.topics_given)) if g]
        return {
            "text": self.text,
            "season": self.season,
            "kigo": [k.to_dict() for k in self.kigo],
            "topics": list(self.topics),
            "kireji": list(self.kireji),
            "given": given,
            "inferred": [k for k in ("season", "topics") if k not in given],
        }


def season_of(kigo: tuple[Kigo, ...], new_year_as: str = NEW_YEAR_AS) -> str:
    """The verse's season from its season words: the season most of them name; a tie goes to
    the longest word (the more specific), then the first."""
    if not kigo:
        return "雑"
    seasons = [new_year_as if k.season == "新年" else k.season for k in kigo]
    counts = Counter(seasons)
    top = max(counts.values())
    tied = [k for k, s in zip(kigo, seasons, strict=True) if counts[s] == top]
    best = max(tied, key=lambda k: k.end - k.start)
    return new_year_as if best.season == "新年" else best.season


def _token_keys(m: Morpheme) -> tuple[str, str | None, str | None]:
    """(surface, dictionary form, kanji stem + dictionary okurigana) of one word, as written:
    keys are made of a whole span (kana_key), since historical kana fold across word
    boundaries (衣替へ analysed 衣 替 へ is 衣替え)."""
    lemma = m.lemma if m.lemma and m.lemma != m.surface else None
    okuri = None
    if m.pos1 in _INFLECTING and m.lemma:
        stem = m.surface[: _kana_tail(m.surface)]
        tail = m.lemma[_kana_tail(m.lemma) :]
        if stem and tail:
            okuri = stem + tail
    return m.surface, lemma, okuri


def _hiragana(text: str) -> bool:
    return all("\u3041" <= c <= "\u3096" for c in text)


def _kana_tail(word: str) -> int:
    """Where the trailing hiragana (okurigana) of a word begins."""
    i = len(word)
    while i and "\u3041" <= word[i - 1] <= "\u3096":
        i -= 1
    return i


def _lookup(lex: Lexicon, text: str | None) -> Word | None:
    if not text:
        return None
    key = kana_key(text)
    return lex.kana.get(key) if all_kana(key) else lex.spelling.get(key)


def _match_span(lex: Lexicon, ws: tuple[Morpheme, ...], keys: list, i: int, j: int) -> Word | None:
    """The entry spelled by words i..j-1, if any."""
    span = ws[i:j]
    if any(span[k].end != span[k + 1].start for k in range(len(span) - 1)):
        return None
    first, last = span[0], span[-1]
    if first.pos1 in _FUNCTION and (j - i == 1 or all_kana(first.surface)):
        return None
    head = "".join(keys[k][0] for k in range(i, j - 1))
    if j - i > 1 and last.pos1 == "助詞":
        # A word ending in what MeCab took for a particle (衣替へ → 衣 替 へ) matches only as
        # written, in full.
        key = kana_key(head + keys[j - 1][0])
        return None if all_kana(key) else lex.spelling.get(key)
    s, lemma, okuri = keys[j - 1]
    # Kana is looked up by reading only where the analysis saw nouns and knows no kanji
    # spelling for them (else its lemma decides: あり is 有り, not 蟻; なし is 無し, not 梨).
    by_reading = all(m.pos1 in _NOUNS and all_kana(m.lemma) for m in span)
    # An inflected form's bare surface is no word (経 of 経ぬ is not the sutra): only its
    # dictionary form and okurigana key are looked up (a surface ending like its dictionary
    # form, 凍てつく for 凍て付く, is looked up as written too).
    inflected = last.pos1 in _INFLECTING and lemma is not None and lemma[-1:] != s[-1:]
    surface_key = None if inflected and j - i == 1 else head + s
    keys_ = (surface_key, head + lemma if lemma else None, head + okuri if okuri else None)
    for key in keys_:
        if key and (by_reading or not all_kana(key)):
            hit = _lookup(lex, key)
            if hit is not None:
                return hit
    # A word in (historical) hiragana that MeCab cut into pieces (うぐひす → うぐ ひ す,
    # こほろぎ → こ ほろぎ): the whole run by reading, when it is three kana at least.
    whole = head + s
    if j - i > 1 and not by_reading and _hiragana(whole) and len(whole) >= 3:
        hit = lex.kana.get(kana_key(whole))
        if hit is not None:
            return hit
    # Okurigana written otherwise than in the saijiki (木枯らし for 木枯し): only for content
    # words with kanji at both ends, inflected at most at the end, and two kanji at least, so
    # that no one-kanji stem (冷たさ → 冷) and no phrase (あと三日ある → 三日, 青き葉ずれ → 青葉)
    # stands for a word.
    edges_kanji = not all_kana(first.surface) and not all_kana(last.surface)
    content = all(m.pos1 not in _FUNCTION for m in span)
    if edges_kanji and content and all(m.pos1 not in _INFLECTING for m in span[:-1]):
        ok = okuri_key(head + s)
        if ok and len(ok) >= 2 and ok in lex.okuri:
            return lex.okuri[ok]
    if j - i > 1:
        lemmas = "".join(keys[k][1] or keys[k][0] for k in range(i, j))
        return None if all_kana(lemmas) else _lookup(lex, lemmas)
    return None


def _inner(lex: Lexicon, m: Morpheme, keys: tuple) -> Word | None:
    if m.pos1 in _FUNCTION:
        return None
    by_reading = m.pos1 in _NOUNS and all_kana(m.lemma)
    for key in keys:
        hit = _lookup(lex, key) if key and (by_reading or not all_kana(key)) else None
        if hit is not None:
            return hit
    return None


def _is_month(ws: tuple[Morpheme, ...], i: int) -> bool:
    """月 right after a numeral is a month (三月), not the moon."""
    return ws[i].surface == "月" and i > 0 and ws[i - 1].pos2 == "数詞"


@lru_cache(maxsize=16384)
def _infer(text: str, saijiki_path: str | None) -> tuple:
    lex = lexicon_for(saijiki_path)
    kigo: list[Kigo] = []
    topics: set[str] = set()
    kireji: list[str] = []
    names: list[str] = []
    content: set[str] = set()
    offset = 0
    for ku in text.split(" "):
        ws = analyse(ku)
        keys = [_token_keys(m) for m in ws]
        i = 0
        while i < len(ws):
            m = ws[i]
            if m.pos2 == "固有名詞":
                names.append(m.surface)
            if (
                m.pos1 in _CONTENT
                and m.pos2 not in ("数詞", "非自立可能")
                and m.lemma not in _GENERIC
            ):
                content.add(m.lemma)
            hit, end = None, i + 1
            if not _is_month(ws, i):
                for j in range(min(len(ws), i + lex.max_tokens), i, -1):
                    hit = _match_span(lex, ws, keys, i, j)
                    if hit is not None:
                        end = j
                        break
            if hit is None:
                i += 1
                continue
            start, stop = offset + ws[i].start, offset + ws[end - 1].end
            if hit.season:
                kigo.append(Kigo(text[start:stop], hit.word, hit.season, start, stop))
            topics |= hit.topics
            if end - i > 1:
                # Words inside a longer match give their class topics (春雨 → 雨 → 降物) and,
                # when the longer word has no season of its own (花の下), their season.
                for k in range(i, end):
                    inner = _inner(lex, ws[k], keys[k])
                    if inner is None:
                        continue
                    topics |= inner.topics & lex.parts_topics
                    if inner.season and not hit.season:
                        a, b = offset + ws[k].start, offset + ws[k].end
                        kigo.append(Kigo(text[a:b], inner.word, inner.season, a, b))
            for k in range(i + 1, end):
                if ws[k].pos1 in _CONTENT and ws[k].lemma not in _GENERIC:
                    content.add(ws[k].lemma)
            i = end
        cut = _kireji(lex, ws)
        if cut:
            kireji.append(cut)
        offset += len(ku) + 1
    return tuple(kigo), frozenset(topics), tuple(kireji), tuple(names), frozenset(content)


def _kireji(lex: Lexicon, ws: tuple[Morpheme, ...]) -> str | None:
    """The cutting word ending a ku, if any: the last one to three words (か+な = かな), or
    a classical adjective ending in し (窓広し)."""
    if not ws:
        return None
    for n in (3, 2, 1):
        tail = ws[-n:]
        if len(tail) < n:
            continue
        s = word_key("".join(m.surface for m in tail))
        # A one-kana cutting word must be a particle or auxiliary (や, か …); longer ones
        # (けり, かな) are taken as written: a ku ending in けり is the auxiliary even where
        # MeCab, seeing the ku alone, reads 蹴り.
        if s in lex.kireji and (len(s) > 1 or tail[0].pos1 in ("助詞", "助動詞")):
            return s
    last = ws[-1]
    if last.pos1 == "形容詞" and last.surface.endswith("し") and "し" in lex.kireji:
        return "し"
    return None


def _fields(verse: Any) -> tuple[str, str | None, tuple[str, ...]]:
    if isinstance(verse, str):
        return verse, None, ()
    if isinstance(verse, Mapping):
        return str(verse.get("text", "")), verse.get("season"), tuple(verse.get("topics") or ())
    return verse.text, getattr(verse, "season", None), tuple(getattr(verse, "topics", ()) or ())


def classify(verse: Any, *, saijiki: str | None = None) -> Classification:
    """Season, season words, topics and 切字 of a verse (a text, a `Verse` or a mapping with
    `text` and optional `season`/`topics`). Given labels win over inference."""
    text, season, topics = _fields(verse)
    text = " ".join(text.split())
    kigo, inferred_topics, kireji, names, content = _infer(text, saijiki)
    season_given = season in (*VERSE_SEASONS, "雑")
    return Classification(
        text=text,
        season=season if season_given else season_of(kigo),
        kigo=kigo,
        topics=topics if topics else tuple(t for t in TOPICS if t in inferred_topics),
        kireji=kireji,
        season_given=season_given,
        topics_given=bool(topics),
        names=names,
        content=content,
    )
