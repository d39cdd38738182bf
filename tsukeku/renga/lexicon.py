"""One lexicon for matching: the saijiki's season words and the topic vocabulary
(data/topics.yaml) together, so that the longest match decides between them (菜の花 over 花).

Two indexes: spellings with kanji (keyed by `kana_key`, so 逢ふ and 逢う meet) and kana words
(keyed the same way; readings shared by entries of different seasons are left out)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from tsukeku.errors import DataError
from tsukeku.renga.keys import all_kana, kana_key, okuri_key, word_key
from tsukeku.renga.saijiki import Saijiki, load_saijiki

TOPICS: tuple[str, ...] = (
    "月", "花", "恋", "旅", "述懐", "無常", "神祇", "釈教", "名所", "山類", "水辺", "居所", "夜分",
    "降物", "聳物", "人倫", "動物", "植物", "衣類",
)  # fmt: skip
CATEGORY_TOPICS = {"動物": "動物", "植物": "植物"}
_MOON, _BLOSSOM = ("秋", "天文"), ("春", "植物")


@dataclass(frozen=True, slots=True)
class Word:
    """What a matched word means: a season word (season, category) and/or topics."""

    word: str
    season: str | None = None  # 春 夏 秋 冬 新年
    category: str | None = None
    topics: frozenset[str] = frozenset()


@dataclass
class Lexicon:
    spelling: dict[str, Word] = field(default_factory=dict)
    kana: dict[str, Word] = field(default_factory=dict)
    okuri: dict[str, Word] = field(default_factory=dict)  # okuri_key(spelling) → word
    parts_topics: frozenset[str] = frozenset()  # topics a word inside a longer match also gives
    kireji: frozenset[str] = frozenset()
    max_tokens: int = 6


def _topic_data() -> dict[str, Any]:
    res = resources.files("tsukeku.renga").joinpath("data", "topics.yaml")
    try:
        data = yaml.safe_load(res.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise DataError(f"tsukeku/renga/data/topics.yaml: cannot read ({err})") from None
    unknown = set(data.get("topics", {})) - set(TOPICS)
    if unknown:
        raise DataError(f"topics.yaml: unknown topic(s) {sorted(unknown)}; known: {TOPICS}")
    return data


def build_lexicon(saijiki: Saijiki) -> Lexicon:
    data = _topic_data()
    topics_of: dict[str, set[str]] = {}  # word_key(word) → topics
    for topic, spec in data["topics"].items():
        for w in spec.get("words", []):
            topics_of.setdefault(kana_key(str(w)), set()).add(topic)
    lex = Lexicon(
        parts_topics=frozenset(t for t, s in data["topics"].items() if s.get("parts", True)),
        kireji=frozenset(word_key(k) for k in data.get("kireji", [])),
    )
    reading_hits: dict[str, list[Word]] = {}

    def add(spelling: str, w: Word, *, reading: bool = False) -> None:
        key = kana_key(spelling)
        if reading or all_kana(key):
            reading_hits.setdefault(key, []).append(w)
        else:
            lex.spelling.setdefault(key, w)
            ok = okuri_key(spelling)
            if ok:
                lex.okuri.setdefault(ok, w)

    for e in saijiki.entries:
        spellings = (e.word, *e.variants)
        topics: set[str] = set()
        for s in spellings:
            topics |= topics_of.pop(kana_key(s), set())
        if e.category in CATEGORY_TOPICS and "花" not in topics:
            topics.add(CATEGORY_TOPICS[e.category])
        if e.category == "天文" and "月" in e.word and "五月" not in e.word:
            topics.add("月")  # a moon of the saijiki (夏の月, 寒月, 月の夜), not 五月雨
        w = Word(e.word, e.season, e.category, frozenset(topics))
        for s in spellings:
            add(s, w)
        for r in e.readings:
            add(r, w, reading=True)
    for key, topics in topics_of.items():
        # A moon or blossom word that is no saijiki entry of its own (月明かり, 花の下) has the
        # season of the moon alone (autumn) or the blossom alone (spring).
        season, category = _MOON if "月" in topics else _BLOSSOM if "花" in topics else (None, None)
        add(key, Word(key, season, category, frozenset(topics)))
    for p in data.get("plain", []):
        key = kana_key(str(p))
        if key not in lex.spelling and key not in reading_hits:
            add(key, Word(str(p)))
    for key, ws in reading_hits.items():
        if len({(w.season, w.topics) for w in ws}) == 1 or len({w.season for w in ws}) == 1:
            # one meaning, or homophones of one season (their topics are merged)
            lex.kana[key] = Word(
                ws[0].word, ws[0].season, ws[0].category, frozenset().union(*(w.topics for w in ws))
            )
    return lex


@lru_cache(maxsize=4)
def lexicon_for(saijiki_path: str | None = None) -> Lexicon:
    return build_lexicon(load_saijiki(saijiki_path))
