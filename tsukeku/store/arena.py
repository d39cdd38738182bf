"""Arena battles and votes, in SQLite or PostgreSQL.

A battle is two anonymous answers to one 前句; the mapping battle → (model A, model B) lives only
here, so the page never learns the names before its vote. Each call is one transaction; one vote
per battle is a UNIQUE constraint, so two instances voting on one battle at once count it once.

No personal data: no IP address, user agent, cookie or account is stored — only the 前句 typed,
the two answers, the two model names, the verdict and UTC timestamps.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from tsukeku.errors import InputError
from tsukeku.store.database import Database, unique_violation
from tsukeku.store.errors import AlreadyVoted, BattleNotFound
from tsukeku.store.records import WINNERS, Battle, Vote
from tsukeku.store.schema import battles, votes


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class ArenaStore:
    """The arena's battles and votes. `ArenaStore(path_or_url)` opens (and upgrades) a database
    of its own; `ArenaStore(database=db)` shares an open one (tsukeku.store.open_store)."""

    def __init__(self, path: str | os.PathLike | None = None, *, timeout_s: float = 10.0,
                 database: Database | None = None) -> None:
        self.db = database if database is not None else Database.open(path, timeout_s=timeout_s)
        self.path: Path | None = self.db.path  # None on PostgreSQL

    def schema_version(self) -> int:
        return self.db.schema_version()

    def journal_mode(self) -> str:
        return self.db.journal_mode()

    def close(self) -> None:
        self.db.close()

    # -- battles and votes ------------------------------------------------------------------

    def create_battle(self, previous: str, model_a: str, model_b: str,
                      answer_a: dict[str, Any], answer_b: dict[str, Any]) -> Battle:
        if model_a == model_b:
            raise InputError("an arena battle needs two different models")
        battle = Battle(id=uuid.uuid4().hex, created_at=now(), previous=previous,
                        model_a=model_a, model_b=model_b, answer_a=answer_a, answer_b=answer_b)
        with self.db.begin() as conn:
            conn.execute(battles.insert().values(
                id=battle.id, created_at=battle.created_at, previous=previous,
                model_a=model_a, model_b=model_b,
                answer_a=json.dumps(answer_a, ensure_ascii=False),
                answer_b=json.dumps(answer_b, ensure_ascii=False),
            ))
        return battle

    def get_battle(self, battle_id: str) -> Battle:
        with self.db.read() as conn:
            row = conn.execute(battles.select().where(battles.c.id == battle_id)).first()
        if row is None:
            raise BattleNotFound(f"no arena battle {battle_id!r}; start a new battle")
        return _battle(row._mapping)

    def record_vote(self, battle_id: str, winner: str) -> Vote:
        """Stores one verdict in one transaction; a battle takes one vote only."""
        if winner not in WINNERS:
            raise InputError(f"winner must be one of {', '.join(WINNERS)}, not {winner!r}")
        created = now()
        try:
            with self.db.begin() as conn:
                row = conn.execute(sa.select(battles.c.model_a, battles.c.model_b)
                                   .where(battles.c.id == battle_id)).first()
                if row is None:
                    raise BattleNotFound(f"no arena battle {battle_id!r}; start a new battle")
                conn.execute(votes.insert().values(battle_id=battle_id, winner=winner,
                                                   created_at=created))
        except IntegrityError as err:
            if not unique_violation(err):  # the battle was pruned between the two statements
                raise BattleNotFound(f"no arena battle {battle_id!r}; start a new battle") from err
            raise AlreadyVoted(
                f"battle {battle_id!r} already has a vote; start a new battle") from err
        return Vote(battle_id, row.model_a, row.model_b, winner, created)

    def votes(self) -> list[Vote]:
        """Every vote, oldest first, with the models it was about."""
        query = (sa.select(votes.c.battle_id, battles.c.model_a, battles.c.model_b,
                           votes.c.winner, votes.c.created_at)
                 .join(battles, battles.c.id == votes.c.battle_id).order_by(votes.c.id))
        with self.db.read() as conn:
            return [Vote(*row) for row in conn.execute(query)]

    def vote_count(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(votes)).scalar_one())

    def battles(self) -> list[Battle]:
        """Every battle (voted or not), oldest first."""
        with self.db.read() as conn:
            rows = conn.execute(battles.select().order_by(battles.c.created_at, battles.c.id))
            return [_battle(r._mapping) for r in rows]

    def prune_unvoted(self, older_than: timedelta = timedelta(days=1)) -> int:
        """Deletes battles nobody voted on within `older_than`; returns how many went."""
        cutoff = (datetime.now(UTC) - older_than).isoformat(timespec="milliseconds")
        voted = sa.select(votes.c.battle_id)
        with self.db.begin() as conn:
            result = conn.execute(battles.delete().where(battles.c.created_at < cutoff,
                                                         battles.c.id.not_in(voted)))
            return int(result.rowcount)


def _battle(row: Any) -> Battle:
    return Battle(id=row["id"], created_at=row["created_at"], previous=row["previous"],
                  model_a=row["model_a"], model_b=row["model_b"],
                  answer_a=json.loads(row["answer_a"]), answer_b=json.loads(row["answer_b"]))
