"""Season words for a seat, and how to write one with a given tokenizer.

`season_words(season, topics, avoid)` picks the saijiki's words (and the moon and blossom words
of the topic vocabulary) that, classified on their own, give the seat's season, carry its topics
(月, 正花) and none it must avoid, with their morae. `spell(word, ku, …)` finds token ids that
write the word at the start of ku `ku` (after the space that opens it, for ku after the first),
and checks them against the mora automaton from the point where the composer forces them, so
that a forced word never overruns its ku. Both are cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from tsukeku.renga.classify import classify
from tsukeku.renga.lexicon import lexicon_for
from tsukeku.renga.saijiki import load_saijiki

MAX_WORD_MORAE = 7


@dataclass(frozen=True, slots=True)
class SeasonWord:
    word: str
    season: str  # the verse season it gives (after the New Year mapping)
    morae: int
    topics: frozenset[str]


def season_words(
    season: str,
    topics: tuple[str, ...] = (),
    avoid: frozenset[str] = frozenset(),
    new_year_as: str = "冬",
    saijiki: str | None = None,
) -> tuple[SeasonWord, ...]:
    """Words that make a verse of `season` carrying `topics`, none of `avoid` (by the classifier
    itself, on the word alone), shortest first. Empty for 雑 (a 雑 verse has no season word)."""
    words = _season_words(season, tuple(topics), new_year_as, saijiki)
    return tuple(w for w in words if not w.topics & avoid)


@lru_cache(maxsize=32)
def _season_words(
    season: str, topics: tuple[str, ...], new_year_as: str, saijiki: str | None
) -> tuple[SeasonWord, ...]:
    from tsukeku.errors import TsukekuError
    from tsukeku.prosody import count_morae

    if season not in ("春", "夏", "秋", "冬"):
        return ()
    lex = lexicon_for(saijiki)
    names: dict[str, None] = {}
    for e in load_saijiki(saijiki).entries:
        if e.season == season or (e.season == "新年" and new_year_as == season):
            names[e.word] = None
    for w in lex.spelling.values():  # moon and blossom words that are no saijiki entry
        if w.season == season and w.topics & {"月", "花"}:
            names[w.word] = None
    out = []
    for word in names:
        if len(word) > 6:
            continue
        c = classify(word, saijiki=saijiki)
        if not c.kigo or c.inferred_season(new_year_as) != season:
            continue
        if not set(topics) <= set(c.topics):
            continue
        try:
            morae = count_morae(word)
        except TsukekuError:
            continue
        if 1 <= morae <= MAX_WORD_MORAE:
            out.append(SeasonWord(word, season, morae, frozenset(c.topics)))
    out.sort(key=lambda w: (w.morae, w.word))
    return tuple(out)


def _spellings(tokenizer: Any, text: str) -> list[list[int]]:
    """Token ids the tokenizer itself would use for `text` (with and without a leading space;
    the first that writes the exact bytes wins)."""
    out = []
    for probe in (text, text.lstrip(" ")):
        try:
            ids = tokenizer(probe, add_special_tokens=False)["input_ids"]
        except Exception:  # noqa: BLE001 - an exotic tokenizer: the table spelling still works
            continue
        out.append(list(ids))
    return out


def _by_table(table: Any, data: bytes) -> list[int] | None:
    """The fewest tokens whose bytes are exactly `data` (a shortest path over byte offsets)."""
    index = _raw_index(table)
    longest = max((len(b) for b in index), default=1)
    best: list[list[int] | None] = [None] * (len(data) + 1)
    best[0] = []
    for i in range(len(data)):
        if best[i] is None:
            continue
        for j in range(i + 1, min(len(data), i + longest) + 1):
            tok = index.get(data[i:j])
            if tok is not None and (best[j] is None or len(best[i]) + 1 < len(best[j])):
                best[j] = [*best[i], tok]
    return best[len(data)]


_RAW_INDEX: dict[int, dict[bytes, int]] = {}


def _raw_index(table: Any) -> dict[bytes, int]:
    index = _RAW_INDEX.get(id(table))
    if index is None:
        index = {}
        for i, raw in enumerate(table.raw):
            if raw and bool(table.usable[i]):
                index.setdefault(raw, i)
        _RAW_INDEX.clear()  # one tokenizer at a time in practice; keep memory bounded
        _RAW_INDEX[id(table)] = index
    return index


def trigger_state(automaton: Any, targets: tuple[int, ...], jiamari: bool, ku: int) -> int:
    """The automaton state where a word for ku `ku` is forced: the verse's start for the first
    ku, else the previous ku exactly full."""
    from tsukeku.generation.constraints import KuState, Meter

    if ku == 0:
        return automaton.start(Meter(targets, jiamari))
    return automaton.state(KuState(targets, jiamari, ku - 1, targets[ku - 1], b"", True, False))


def spell(
    word: str,
    ku: int,
    tokenizer: Any,
    table: Any,
    automaton: Any,
    targets: tuple[int, ...],
    jiamari: bool,
) -> tuple[int, ...] | None:
    """Token ids that write `word` at the start of ku `ku` (" word" after the first ku), or
    None when no spelling stays inside the form by the automaton (the word would overrun)."""
    want = (word if ku == 0 else " " + word).encode("utf-8")
    options = [ids for ids in _spellings(tokenizer, want.decode()) if _bytes(table, ids) == want]
    if ku == 0:
        # a leading space before the first ku is dropped by the automaton (SentencePiece "▁")
        spaced = _spellings(tokenizer, " " + word)
        options += [ids for ids in spaced if _bytes(table, ids) == b" " + want]
    by_table = _by_table(table, want)
    if by_table:
        options.append(by_table)
    for ids in options:
        state = trigger_state(automaton, targets, jiamari, ku)
        for t in ids:
            state = automaton.step(state, t)
        key = automaton.key(state)
        if state not in (automaton.dead, automaton.ended) and getattr(key, "ku", -1) == ku:
            return tuple(ids)
    return None


def _bytes(table: Any, ids: list[int]) -> bytes | None:
    parts = []
    for t in ids:
        if t >= len(table.raw) or table.raw[t] is None:
            return None
        parts.append(table.raw[t])
    return b"".join(parts)
