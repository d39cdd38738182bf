"""A thin wrapper over MeCab (fugashi + unidic-lite): analyses as named records.

UniDic's feature fields are picked by name here, once; the rest of the project reads
`Morpheme` attributes, never feature indices.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import NamedTuple

from tsukeku.prosody.kana import to_hiragana

# unidic-lite (UniDic 2.1.2) feature indices, by name.
_FIELDS = {"pos1": 0, "pos2": 1, "lemma_kana": 6, "lemma": 7, "goshu": 12, "kana": 17}
_SEP = "\t"


class Morpheme(NamedTuple):
    """One word of an analysis; ``start``/``end`` index the analysed text."""

    surface: str
    start: int
    end: int
    pos1: str  # 名詞, 動詞, 助詞 …
    pos2: str
    kana: str  # the surface's reading in katakana as UniDic gives it; "*" when unknown
    lemma: str  # dictionary form (霞む for 霞み); the surface itself when unknown
    lemma_kana: str  # the lemma's reading in katakana; "*" when unknown
    goshu: str  # word origin: 和 native, 漢 Sino-Japanese, 外 …; "*" when unknown

    @property
    def known(self) -> bool:
        return self.kana != "*"

    @property
    def reading(self) -> str:
        """The surface's reading in hiragana ("" when unknown)."""
        return to_hiragana(self.kana) if self.known else ""

    @property
    def lemma_reading(self) -> str:
        """The lemma's reading in hiragana ("" when unknown)."""
        return to_hiragana(self.lemma_kana) if self.lemma_kana != "*" else ""


_local = threading.local()
_new = tuple.__new__


def tagger():
    """One fugashi tagger per thread (lazy), printing the named fields tab-separated."""
    t = getattr(_local, "tagger", None)
    if t is None:
        import fugashi
        import unidic_lite

        d = unidic_lite.DICDIR
        order = ("pos1", "pos2", "kana", "lemma", "lemma_kana", "goshu")
        node = "'%m" + "".join(f"\\t%f[{_FIELDS[k]}]" for k in order) + "\\n'"
        unk = "'%m\\t%f[0]\\t%f[1]\\t*\\t%m\\t*\\t*\\n'"
        t = fugashi.GenericTagger(
            f'-d "{d}" -r "{d}/mecabrc" -O "" --node-format={node} --unk-format={unk} '
            "--eos-format='EOS\\n' --bos-format=''"
        )
        _local.tagger = t
    return t


def analyses(text: str, n: int = 1) -> list[list[Morpheme]]:
    """The ``n`` best analyses of ``text`` (MeCab N-best), each a list of morphemes in order."""
    out = tagger().nbest(text, n) if n > 1 else tagger().parse(text)
    result: list[list[Morpheme]] = []
    words: list[Morpheme] = []
    pos = 0
    for line in out.split("\n"):
        if line == "EOS":
            result.append(words)
            words, pos = [], 0
            continue
        if not line:
            continue
        surface, pos1, pos2, kana, lemma, lemma_kana, goshu = line.split(_SEP)
        start = text.find(surface, pos)
        if start < 0:  # MeCab never rewrites the text; be safe all the same
            continue
        pos = start + len(surface)
        # tuple.__new__ skips the NamedTuple's Python-level __new__: readings analyse a few
        # thousand words a second, and this is the one place records are made
        words.append(
            _new(Morpheme, (surface, start, pos, pos1, pos2, kana, lemma, lemma_kana, goshu))
        )
    if words:
        result.append(words)
    return result


@lru_cache(maxsize=8192)
def _analyse_cached(text: str) -> tuple[Morpheme, ...]:
    found = analyses(text, 1)
    return tuple(found[0]) if found else ()


def analyse(text: str) -> tuple[Morpheme, ...]:
    """MeCab's best analysis of ``text`` (cached; offsets index ``text`` as given)."""
    return _analyse_cached(text)


# What counts as a content word wherever the project compares verses by their words (the
# reranker's overlap with the 前句, the evaluation's content F1): nouns, verbs, adjectives,
# adjectival nouns and adverbs. Particles, auxiliaries, affixes and symbols are function words.
CONTENT_POS = frozenset({"名詞", "動詞", "形容詞", "形状詞", "副詞"})


def content_lemmas(text: str) -> list[str]:
    """The lemmas of the content words of a verse (CONTENT_POS, less the dependent ones: pos2
    非自立可能 as する, こと, ゆく in 〜てゆく), in order, repeats kept. Each ku is analysed on its
    own: the space is a real word boundary (涼しき 軒 ≠ 涼 式). Lemmas, so that 帰ら and 帰る,
    追ひ and 追う match."""
    return [
        m.lemma or m.surface
        for ku in text.split()
        for m in analyse(ku)
        if m.pos1 in CONTENT_POS and m.pos2 != "非自立可能"
    ]
