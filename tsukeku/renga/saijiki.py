"""The saijiki (季語 dictionary): season words with season, category, readings and spellings.

The data is `tsukeku/renga/data/saijiki.tsv` (see data/README.md for provenance): `#` comment
lines, a header `word season category readings variants`, then one entry per line; readings and
variants are comma-separated. It is read once per path (cached) into two indexes: spellings as
written (headword, variants, kanji or kana) and kana readings as recited (so historical kana
meet modern kana). A spelling or reading shared by entries of different seasons keeps the first
entry for spellings; an ambiguous kana reading (かき: 柿 autumn, 牡蠣 winter) is not indexed, so a
verse in kana is never given a season by a guess between homophones.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from tsukeku.errors import DataError
from tsukeku.renga.keys import all_kana, kana_key, word_key

SAIJIKI_SEASONS: tuple[str, ...] = ("春", "夏", "秋", "冬", "新年")
CATEGORIES: tuple[str, ...] = ("時候", "天文", "地理", "生活", "行事", "動物", "植物")
HEADER = ("word", "season", "category", "readings", "variants")


@dataclass(frozen=True, slots=True)
class Entry:
    word: str
    season: str  # 春 夏 秋 冬 新年
    category: str
    readings: tuple[str, ...]
    variants: tuple[str, ...]
    line: int  # 1-based line in the data file


@dataclass(frozen=True)
class Saijiki:
    entries: tuple[Entry, ...]
    by_spelling: dict[str, Entry]  # kana_key(a spelling with kanji) → entry
    by_reading: dict[str, Entry]  # kana_key(reading) → entry (unambiguous readings only)
    path: str

    def __len__(self) -> int:
        return len(self.entries)

    def lookup(self, word: str) -> Entry | None:
        """The entry of a spelling (kanji or kana); kana also by reading."""
        key = kana_key(word)
        return self.by_reading.get(key) if all_kana(key) else self.by_spelling.get(key)

    def seasons(self) -> dict[str, int]:
        out = dict.fromkeys(SAIJIKI_SEASONS, 0)
        for e in self.entries:
            out[e.season] += 1
        return out


def default_path() -> Path:
    return Path(str(resources.files("tsukeku.renga").joinpath("data", "saijiki.tsv")))


def _split(field: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in field.split(",") if x.strip())


def parse(lines: list[str], where: str) -> Saijiki:
    """Entries out of the lines of a saijiki file; DataError names file:line on a bad line."""
    entries: list[Entry] = []
    header_seen = False
    for no, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split("\t")
        if not header_seen:
            if tuple(f.strip() for f in fields) != HEADER:
                raise DataError(
                    f"{where}:{no}: expected the header {chr(9).join(HEADER)!r} before the "
                    "entries (tab-separated)"
                )
            header_seen = True
            continue
        if len(fields) == 4:
            fields.append("")
        if len(fields) != 5:
            raise DataError(
                f"{where}:{no}: {len(fields)} tab-separated fields, expected 5 ({', '.join(HEADER)})"
            )
        word, season, category, readings, variants = (f.strip() for f in fields)
        if not word:
            raise DataError(f"{where}:{no}: empty word")
        if season not in SAIJIKI_SEASONS:
            raise DataError(
                f"{where}:{no}: season {season!r} of {word!r} is not one of "
                f"{' '.join(SAIJIKI_SEASONS)}"
            )
        if category not in CATEGORIES:
            raise DataError(
                f"{where}:{no}: category {category!r} of {word!r} is not one of "
                f"{' '.join(CATEGORIES)}"
            )
        reads = _split(readings)
        if not reads:
            raise DataError(f"{where}:{no}: {word!r} has no reading")
        bad = [r for r in reads if not all_kana(word_key(r))]
        if bad:
            raise DataError(f"{where}:{no}: readings of {word!r} must be kana, got {bad[0]!r}")
        entries.append(Entry(word, season, category, reads, _split(variants), no))
    if not header_seen:
        raise DataError(f"{where}: no header line {chr(9).join(HEADER)!r} and no entries")
    return _index(tuple(entries), where)


def _index(entries: tuple[Entry, ...], where: str) -> Saijiki:
    by_spelling: dict[str, Entry] = {}
    readings: dict[str, list[Entry]] = {}
    for e in entries:
        for spelling in (e.word, *e.variants):
            if all_kana(word_key(spelling)):  # kana spellings are readings: homophones apply
                readings.setdefault(kana_key(spelling), []).append(e)
            else:
                by_spelling.setdefault(kana_key(spelling), e)
        for r in e.readings:
            readings.setdefault(kana_key(r), []).append(e)
    by_reading = {k: es[0] for k, es in readings.items() if len({e.season for e in es}) == 1}
    return Saijiki(entries, by_spelling, by_reading, where)


@lru_cache(maxsize=8)
def _load(path: str, mtime: float) -> Saijiki:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: saijiki not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read the saijiki ({err})") from None
    return parse(text.splitlines(), path)


def load_saijiki(path: str | os.PathLike | None = None) -> Saijiki:
    """The saijiki at `path` (default: the bundled one), read once and cached."""
    p = Path(path) if path is not None else default_path()
    try:
        mtime = p.stat().st_mtime
    except FileNotFoundError:
        raise DataError(
            f"{p}: saijiki not found"
            + ("; the bundled saijiki is missing from the install" if path is None else "")
        ) from None
    return _load(str(p), mtime)
