"""The cheapest path through a reading lattice, optionally nearest a meter."""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, NamedTuple, NoReturn

from tsukeku.errors import InputError
from tsukeku.prosody.costs import meter_cost
from tsukeku.prosody.kana import is_kanji

if TYPE_CHECKING:
    from tsukeku.prosody.lattice import Lattice


class Step(NamedTuple):
    """One edge taken: a span of the analysed text, its reading and morae."""

    start: int
    end: int
    reading: str
    morae: int


def best_path(lat: Lattice, start: int, end: int, expected: int | None) -> tuple[list[Step], float]:
    """Dynamic programming over (position, morae so far, bare vowel seen); with ``expected``
    the final state also pays its distance from the meter (costs.meter_cost)."""
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
        path.append(Step(pp, pos, r, k))
        pos, key = pp, pkey
    path.reverse()
    return path, total


def path_reading(path: list[Step]) -> str:
    """The reading along a path, one space between ku."""
    return " ".join("".join(step.reading for step in path).split())


def path_morae(path: list[Step]) -> int:
    return sum(step.morae for step in path)


def _raise_unreadable(lat: Lattice, start: int, end: int, states: list[dict]) -> NoReturn:
    # The first position reached from which no edge leads on holds the unreadable character.
    for i in range(start, end):
        if states[i] and not any(edge.end <= end for edge in lat.edges[i]):
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
