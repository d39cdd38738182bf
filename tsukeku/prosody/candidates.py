"""Weaker candidate readings, for the meter to choose among where MeCab's analyses cannot fit it.

- Every reading the dictionary knows for a word written in the text (all-morphs: 兵 =
  つわもの, 是 = これ, 天 = あまの + 河 = がわ), not only those of MeCab's best analyses.
- Classical orthography, by class:
  - a kanji whose okurigana is left out reads as the whole word the dictionary writes with it
    (閑 = しずか from 閑か, 有 = あり, 打 = うつ/うち) — before anything but its own okurigana;
  - before kana of a conjugation the modern dictionary lacks, a kanji reads as the stem of its
    words (越ゆ = こ + ゆ, 見ゆ, 消ぬ = け + ぬ);
  - kanji written for classical particles and auxiliaries (助字 of the lexicon: 也 = なり,
    哉 = かな, 乎/歟 = か) after a word, and 不 before a verb read after it as its irrealis +
    ず (不知 = しらず);
  - historical kana with a large ya/yu/yo read contracted where the dictionary knows the
    contracted word (ちやうど = ちょうど).

They cost more than any of MeCab's close analyses (costs.DICT, DICT_KANJI), so that without a
meter nothing changes; only readings the dictionary gives are ever added (字余り stays where
none fits).
"""

from __future__ import annotations

from tsukeku.prosody.analysis import analyses
from tsukeku.prosody.costs import CONTRACTED, DICT, DICT_KANJI, SINO
from tsukeku.prosody.dictionary import dictionary_words, kanji_words
from tsukeku.prosody.edges import Add, Pending
from tsukeku.prosody.kana import HIRAGANA, is_kana, is_kanji, is_separator, kana_morae
from tsukeku.prosody.lexicon import load_lexicon

NEGATION = "不"  # written before the verb it negates, read after it (漢文訓読: 不知 = しらず)
_I_ROW = frozenset("きしちにひみりぎじぢびぴ")
_CONTRACT = str.maketrans("やゆよ", "ゃゅょ")
_AFTER_GEMINATE = frozenset("てでただ")
_SKIP_POS = frozenset({"記号", "補助記号", "空白"})


def add_candidate_edges(atext: str, pending: Pending, add: Add) -> None:
    """Add the weaker candidates of ``atext`` (a reading only where no edge of the same span
    and morae is as cheap already: for the meter, a new count is what matters)."""
    best: dict[tuple[int, int, int], float] = {}
    for s, d in enumerate(pending):
        for (e, r), c in d.items():
            key = (s, e, kana_morae(r) if r.strip() else 0)
            best[key] = min(c, best.get(key, c))

    def offer(s: int, e: int, reading: str, cost: float) -> None:
        if reading.endswith("っ") and atext[e : e + 1] not in _AFTER_GEMINATE:
            return  # an onbin form (持っ) stands only before て/た (持て = もって)
        nxt = atext[e : e + 1]
        if nxt and reading.endswith(nxt) and nxt in kanji_words(atext[e - 1]).okuri_starts:
            return  # the kana after it are its own okurigana, written (持ち ≠ もち + ち)
        key = (s, e, kana_morae(reading))
        if best.get(key, cost + 1) > cost:
            best[key] = cost
            add(s, e, reading, cost)

    if any(is_kanji(c) for c in atext):
        for w in dictionary_words(atext):
            if w.pos1 not in _SKIP_POS:
                # verse prefers native readings: a lone kanji read Sino-Japanese costs more
                sino = w.end - w.start == 1 and w.goshu == "漢"
                offer(w.start, w.end, w.reading, DICT + SINO if sino else DICT)
        _kanji_candidates(atext, offer)
    _contracted_kana(atext, offer)


def _kanji_candidates(atext: str, offer: Add) -> None:
    n = len(atext)
    lex = load_lexicon()
    for i, ch in enumerate(atext):
        if not is_kanji(ch):
            continue
        nxt = atext[i + 1] if i + 1 < n else ""
        words = kanji_words(ch)
        if nxt not in words.okuri_starts:  # not okurigana the modern dictionary knows
            for stem in words.stems if nxt in HIRAGANA else ():
                offer(i, i + 1, stem, DICT_KANJI)
            for whole in words.wholes:
                offer(i, i + 1, whole, DICT_KANJI)
        if ch == NEGATION and nxt and is_kanji(nxt):
            for mizen in kanji_words(nxt).mizen:
                offer(i, i + 2, mizen + "ず", DICT_KANJI)
        if i and not is_separator(atext[i - 1]):
            for entry in lex.matches_at(atext, i):
                if entry.kind == "助字":
                    for k, r in enumerate(entry.readings):
                        offer(i, i + len(entry.word), r, DICT_KANJI + 0.01 * k)


def _contracted_kana(atext: str, offer: Add) -> None:
    """Large ya/yu/yo after an i-row kana (ちやうど), read contracted (ちょうど) where MeCab,
    reading the contracted run, finds a word of the dictionary over it."""
    i, n = 0, len(atext)
    while i < n:
        if atext[i] not in HIRAGANA:
            i += 1
            continue
        j = i
        while j < n and atext[j] in HIRAGANA:
            j += 1
        run = atext[i:j]
        changed = {k for k in range(1, len(run)) if run[k] in "やゆよ" and run[k - 1] in _I_ROW}
        if changed:
            variant = "".join(
                c.translate(_CONTRACT) if k in changed else c for k, c in enumerate(run)
            ).replace("ゃう", "ょう")  # and やう is read よう (ちやう = ちょう), same length
            for w in analyses(variant, 1)[0]:
                if (
                    w.known
                    and w.pos1 not in _SKIP_POS
                    and w.end - w.start >= 2
                    and any(w.start < k < w.end for k in changed)
                    and all(is_kana(c) for c in w.surface)
                ):
                    offer(i + w.start, i + w.end, w.surface, CONTRACTED)
        i = j
