"""The poetic lexicon (歌語, 歌枕, 枕詞, classical readings): package data `data/lexicon.tsv`.

Format (documented in docs/prosody.md and at the head of the file): one entry per line,
TAB-separated `WORD  READINGS  KIND [NOTE]`, readings separated by "|" with the usual one first,
written as recited today (the words けふ/てふ are accepted and read きょう/ちょう).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from tsukeku.errors import DataError
from tsukeku.prosody.kana import KANA_CHARS, kana_morae, recite
from tsukeku.settings import env

KINDS = frozenset({"歌語", "歌枕", "枕詞", "古語", "語幹", "数", "助字"})


@dataclass(frozen=True)
class Entry:
    word: str
    readings: tuple[str, ...]
    kind: str


class Lexicon:
    """Words indexed by their first character for longest-match lookup."""

    def __init__(self, entries: list[Entry]):
        self.entries = {e.word: e for e in entries}
        by_first: dict[str, list[Entry]] = {}
        for e in self.entries.values():
            by_first.setdefault(e.word[0], []).append(e)
        for lst in by_first.values():
            lst.sort(key=lambda e: -len(e.word))
        self._by_first = by_first

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, word: str) -> bool:
        return word in self.entries

    def get(self, word: str) -> Entry | None:
        return self.entries.get(word)

    def matches_at(self, text: str, i: int) -> list[Entry]:
        """Entries whose word occurs in ``text`` at ``i``, longest first."""
        cands = self._by_first.get(text[i])
        if not cands:
            return []
        return [e for e in cands if text.startswith(e.word, i)]


def parse_lexicon(text: str, source: str = "lexicon") -> list[Entry]:
    entries: list[Entry] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) < 3:
            raise DataError(f"{source}:{lineno}: expected WORD<TAB>READINGS<TAB>KIND, got {line!r}")
        word, readings_col, kind = cols[0].strip(), cols[1].strip(), cols[2].strip()
        kinds = set(kind.split("|"))
        if not word or not kinds <= KINDS:
            raise DataError(f"{source}:{lineno}: unknown kind {kind!r} (one of {sorted(KINDS)})")
        readings = []
        for r in readings_col.split("|"):
            r = r.strip()
            if not r or any(c not in KANA_CHARS for c in r):
                raise DataError(f"{source}:{lineno}: reading {r!r} of {word} must be kana")
            readings.append(recite(r, historical=False))
        entries.append(Entry(word, tuple(readings), kind))
    return entries


@lru_cache(maxsize=4)
def load_lexicon(path: str | None = None) -> Lexicon:
    """The bundled lexicon, plus $TSUKEKU_LEXICON (a file in the same format) when set."""
    text = resources.files("tsukeku.prosody").joinpath("data/lexicon.tsv").read_text("utf-8")
    entries = parse_lexicon(text, "lexicon.tsv")
    extra = path or env().lexicon
    if extra:
        p = Path(extra)
        if not p.is_file():
            raise DataError(f"lexicon file {p} not found (TSUKEKU_LEXICON)")
        entries += parse_lexicon(p.read_text("utf-8"), str(p))
    return Lexicon(entries)


def entry_morae(entry: Entry) -> list[int]:
    return [kana_morae(r) for r in entry.readings]
