"""The store as JSON Lines, for operators (`tsukeku db export`): one record per line.

- votes: `battle_id`, `created_at`, `model_a`, `model_b`, `winner`, `previous`, `answer_a`,
  `answer_b` (the answers' text) — the columns of the arena's `GET /api/arena/votes.csv`, oldest
  first;
- battles: `battle_id`, `created_at`, `previous`, `model_a`, `model_b`, `answer_a`, `answer_b`
  (the stored answers: text, reading, form check, latency), `winner` (None while unvoted);
- sessions: each session as `SessionRecord.to_dict()` (participants, verses, `next_seat`), without
  its join and host tokens.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tsukeku.store import Store

TABLES = ("votes", "battles", "sessions")


def records(store: Store, table: str) -> Iterator[dict[str, Any]]:
    if table == "votes":
        votes = store.arena.votes()
        # read after the votes: a voted battle is never pruned, so every vote finds its battle
        battles = {b.id: b for b in store.arena.battles()}
        for v in votes:
            b = battles[v.battle_id]
            yield {"battle_id": v.battle_id, "created_at": v.created_at, "model_a": v.model_a,
                   "model_b": v.model_b, "winner": v.winner, "previous": b.previous,
                   "answer_a": b.answer_a.get("text", ""), "answer_b": b.answer_b.get("text", "")}
    elif table == "battles":
        winners = {v.battle_id: v.winner for v in store.arena.votes()}
        for b in store.arena.battles():
            yield {"battle_id": b.id, "created_at": b.created_at, "previous": b.previous,
                   "model_a": b.model_a, "model_b": b.model_b, "answer_a": b.answer_a,
                   "answer_b": b.answer_b, "winner": winners.get(b.id)}
    elif table == "sessions":
        for session_id in store.sessions.session_ids():
            yield store.sessions.get_session(session_id).to_dict()
    else:
        raise ValueError(f"unknown table {table!r}")
