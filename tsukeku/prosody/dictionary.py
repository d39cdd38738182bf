"""What the installed dictionary (UniDic, as unidic-lite ships it) knows beyond MeCab's best
analyses: every entry whose surface occurs in the text (MeCab's all-morphs mode: 兵 = ヘイ and
ツワモノ, 是 = ゼ and コレ, 哉 = カナ), and, per kanji, the readings of the words it writes with
okurigana (閑か = シズカ, 有り = アリ, 打つ = ウツ, 越す = コス, 知ら = シラ), from which verse
that leaves the okurigana out (閑さ, 有て, 打な) or conjugates classically (越ゆ, 消ぬ) is read.

The per-kanji index is built once from the dictionary's own entries (sys.dic's feature
strings, about 2 s) and cached as JSON under tsukeku.paths.home(), keyed by the unidic-lite
version; nothing here is a list of words of ours.
"""

from __future__ import annotations

import json
import struct
import threading
from collections import defaultdict
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from tsukeku.prosody.kana import HIRAGANA, is_kana, is_kanji, to_hiragana

# UniDic 2.1.2 feature fields (see analysis._FIELDS): part of speech, conjugated form, the
# word as written (orth) and its kana.
_POS1, _POS2, _CFORM, _ORTH, _GOSHU, _KANA = 0, 1, 5, 8, 12, 17
_MAX_OKURI = 2  # okurigana of an indexed word: 閑か, 有り, 隔てる


class DictWord(NamedTuple):
    """A dictionary entry found in the text (all-morphs): its span and reading (hiragana)."""

    start: int
    end: int
    pos1: str
    goshu: str  # word origin: 和 native, 漢 Sino-Japanese …
    reading: str


class KanjiWords(NamedTuple):
    """What the dictionary's words written with kanji ``K`` + okurigana say about ``K``."""

    okuri_starts: frozenset[str]  # first kana of their okurigana (つ, ち, て … for 打)
    wholes: tuple[str, ...]  # K read as the whole word, its okurigana left out (打 = うつ, うち)
    stems: tuple[str, ...]  # K read before okurigana of its own (越 = こ in 越ゆ)
    mizen: tuple[str, ...]  # the irrealis (未然形) of verbs it writes (知 = しら: 不知 = しらず)


_local = threading.local()


def _all_morphs_tagger():
    """A MeCab tagger in all-morphs mode (-a): every dictionary entry at every position."""
    t = getattr(_local, "tagger", None)
    if t is None:
        import fugashi
        import unidic_lite

        d = unidic_lite.DICDIR
        node = f"'%ps\\t%pe\\t%f[{_POS1}]\\t%f[{_POS2}]\\t%f[{_GOSHU}]\\t%f[{_KANA}]\\n'"
        t = fugashi.GenericTagger(
            f'-a -d "{d}" -r "{d}/mecabrc" -O "" --node-format={node} '
            "--unk-format='' --eos-format='' --bos-format=''"
        )
        _local.tagger = t
    return t


def dictionary_words(text: str) -> list[DictWord]:
    """Every dictionary entry (with a kana reading) whose surface occurs in ``text`` and holds
    a kanji, names apart."""
    raw = text.encode("utf-8")
    char_at = {0: 0}
    pos = 0
    for i, ch in enumerate(text):
        pos += len(ch.encode("utf-8"))
        char_at[pos] = i + 1
    out: list[DictWord] = []
    seen: set[tuple[int, int, str]] = set()
    for line in _all_morphs_tagger().parse(text).split("\n"):
        parts = line.split("\t")
        if len(parts) != 6:
            continue  # an entry with short features (a bracket): nothing to read
        ps, pe, pos1, pos2, goshu, kana = parts
        if pos2 == "固有名詞":
            continue  # a name's reading (天 = たかし) is no reading of the word
        s, e = char_at.get(int(ps)), char_at.get(int(pe))
        if s is None or e is None or len(raw) < int(pe):
            continue
        surface = text[s:e]
        if not any(is_kanji(c) for c in surface) or not kana or not all(is_kana(c) for c in kana):
            continue
        reading = to_hiragana(kana)
        if (s, e, reading) not in seen:
            seen.add((s, e, reading))
            out.append(DictWord(s, e, pos1, goshu, reading))
    return out


# --- the per-kanji index ------------------------------------------------------------------------


def _features(dic: Path) -> list[str]:
    """The feature strings of a compiled MeCab dictionary (sys.dic: a 72-byte header, the
    double array, the token table, then the NUL-separated features)."""
    data = dic.read_bytes()
    header = struct.unpack("<10I", data[:40])
    dsize, tsize, fsize = header[6], header[7], header[8]
    start = 72 + dsize + tsize
    return data[start : start + fsize].decode("utf-8").split("\0")


def build_index(dic: Path) -> dict[str, dict[str, list[str]]]:
    """kanji → {"okuri": first kana of okurigana, "whole": …, "stem": …, "mizen": …} from the
    dictionary's entries written as one kanji + up to three kana of okurigana (or the kanji
    alone, for its irrealis: 見 = ミ)."""
    acc: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for feature in _features(dic):
        fields = feature.split(",", _KANA + 1)
        if len(fields) <= _KANA:
            continue
        orth, kana = fields[_ORTH], fields[_KANA]
        if not orth or not is_kanji(orth[0]) or not kana or not all(is_kana(c) for c in kana):
            continue
        okuri = orth[1:]
        if len(okuri) > _MAX_OKURI or any(c not in HIRAGANA for c in okuri):
            continue
        reading = to_hiragana(kana)
        if not okuri or not reading.endswith(okuri) or len(reading) == len(okuri):
            if not okuri and fields[_POS1] == "動詞" and fields[_CFORM].startswith("未然形"):
                acc[orth[0]]["mizen"].add(reading)  # 見 = ミ
            continue
        entry = acc[orth[0]]
        entry["okuri"].add(okuri[0])
        entry["stem"].add(reading[: -len(okuri)])
        if len(okuri) == 1 and okuri not in "っん":
            # the word itself with its one kana of okurigana left out (閑か, 有り, 打つ);
            # an onbin form (打っ) never stands without more okurigana
            entry["whole"].add(reading)
            if fields[_POS1] == "動詞" and fields[_CFORM].startswith("未然形"):
                entry["mizen"].add(reading)  # 知ら = シラ
    return {k: {f: sorted(v) for f, v in d.items()} for k, d in acc.items()}


_lock = threading.Lock()


@lru_cache(maxsize=1)
def _index() -> dict[str, dict[str, list[str]]]:
    import unidic_lite

    from tsukeku.io import write_json_atomic
    from tsukeku.paths import home

    version = Path(unidic_lite.DICDIR, "version").read_text(encoding="utf-8").strip()
    path = home() / "prosody" / f"kanji-words-unidic-lite-{version}-v2.json"
    with _lock:
        if path.is_file():
            try:
                return json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                pass  # a damaged cache is rebuilt
        index = build_index(Path(unidic_lite.DICDIR, "sys.dic"))
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, index, indent=None)
        return index


@lru_cache(maxsize=8192)
def kanji_words(ch: str) -> KanjiWords:
    """What the dictionary's words written with ``ch`` + okurigana say about ``ch``."""
    d = _index().get(ch, {})
    return KanjiWords(
        frozenset(d.get("okuri", ())),
        tuple(d.get("whole", ())),
        tuple(d.get("stem", ())),
        tuple(d.get("mizen", ())),
    )


def clear_caches() -> None:
    """Forget per-kanji lookups (the index itself stays loaded, like the lexicon)."""
    kanji_words.cache_clear()
