"""Arena battles and votes in a SQLite file.

A battle is two anonymous answers to one 前句; the mapping battle → (model A, model B) lives only
here, so the page never learns the names before its vote. The file runs in WAL mode (readers don't
block the writer), each vote is one `BEGIN IMMEDIATE … COMMIT` transaction, and the schema is
versioned with `PRAGMA user_version` and upgraded by the ordered MIGRATIONS below.

No personal data: no IP address, user agent, cookie or account is stored — only the 前句 typed,
the two answers, the two model names, the verdict and UTC timestamps.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tsukeku.errors import ConfigError, InputError

WINNERS = ("a", "b", "tie", "both_bad")
ENV_DB = "TSUKEKU_ARENA_DB"

# Each entry upgrades the schema from version i to i + 1; never edit a released entry, append.
MIGRATIONS: tuple[str, ...] = (
    # 1: battles (who answered what) and votes (one per battle at most).
    """
    CREATE TABLE battles (
        id          TEXT PRIMARY KEY,
        created_at  TEXT NOT NULL,
        previous    TEXT NOT NULL,
        model_a     TEXT NOT NULL,
        model_b     TEXT NOT NULL,
        answer_a    TEXT NOT NULL,
        answer_b    TEXT NOT NULL,
        CHECK (model_a <> model_b)
    );
    CREATE TABLE votes (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        battle_id   TEXT NOT NULL UNIQUE REFERENCES battles(id),
        winner      TEXT NOT NULL CHECK (winner IN ('a', 'b', 'tie', 'both_bad')),
        created_at  TEXT NOT NULL
    );
    """,
    # 2: unvoted battles are pruned by age, and the leaderboard reads votes joined to battles.
    """
    CREATE INDEX battles_created_at ON battles(created_at);
    CREATE INDEX votes_created_at ON votes(created_at);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class BattleNotFound(InputError):
    """The battle id is unknown (never created, or pruned because it was left unvoted)."""


class AlreadyVoted(InputError):
    """A battle takes one vote; the page should start a new battle."""


@dataclass(frozen=True)
class Battle:
    id: str
    created_at: str
    previous: str
    model_a: str
    model_b: str
    answer_a: dict[str, Any]
    answer_b: dict[str, Any]


@dataclass(frozen=True)
class Vote:
    battle_id: str
    model_a: str
    model_b: str
    winner: str  # one of WINNERS
    created_at: str


def default_db_path() -> Path:
    """$TSUKEKU_ARENA_DB, else `arena.sqlite3` under tsukeku.paths.home()."""
    from tsukeku.paths import home
    from tsukeku.settings import env

    configured = env().arena_db
    if configured is not None:
        return configured.expanduser()

    return home() / "arena.sqlite3"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class ArenaStore:
    """Thread-safe access to one arena database file.

    Each call opens its own short-lived connection: SQLite connections are cheap, and this keeps
    the store safe to use from FastAPI's thread pool and from several server processes at once.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, timeout_s: float = 10.0) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        self.timeout_s = timeout_s
        self._trace: list[str] | None = None  # set by tests to see the statements a call runs
        self._migrate_lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._migrate()

    # -- connections and schema -------------------------------------------------------------

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so one call = one transaction.
        conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
            if self._trace is not None:
                conn.set_trace_callback(self._trace.append)
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as conn:
            # IMMEDIATE takes the write lock up front, so concurrent writers queue on
            # busy_timeout instead of failing with "database is locked" at COMMIT.
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _migrate(self) -> None:
        with self._migrate_lock, self._connect() as conn:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise ConfigError(
                    f"could not switch {self.path} to WAL mode (got {mode!r}); put the arena "
                    f"database on a local file system (set {ENV_DB})"
                )
            conn.execute("BEGIN IMMEDIATE")
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise ConfigError(
                        f"{self.path} has arena schema version {version}, newer than this tsukeku "
                        f"understands ({SCHEMA_VERSION}); upgrade tsukeku or point {ENV_DB} elsewhere"
                    )
                for target in range(version + 1, SCHEMA_VERSION + 1):
                    for statement in _statements(MIGRATIONS[target - 1]):
                        conn.execute(statement)
                    # PRAGMA takes no bound parameters; target is our own integer.
                    conn.execute(f"PRAGMA user_version = {target}")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def schema_version(self) -> int:
        with self._connect() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

    def journal_mode(self) -> str:
        with self._connect() as conn:
            return str(conn.execute("PRAGMA journal_mode").fetchone()[0])

    # -- battles and votes ------------------------------------------------------------------

    def create_battle(
        self,
        previous: str,
        model_a: str,
        model_b: str,
        answer_a: dict[str, Any],
        answer_b: dict[str, Any],
    ) -> Battle:
        if model_a == model_b:
            raise InputError("an arena battle needs two different models")
        battle = Battle(
            id=uuid.uuid4().hex,
            created_at=_now(),
            previous=previous,
            model_a=model_a,
            model_b=model_b,
            answer_a=answer_a,
            answer_b=answer_b,
        )
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO battles (id, created_at, previous, model_a, model_b, answer_a, answer_b)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    battle.id,
                    battle.created_at,
                    previous,
                    model_a,
                    model_b,
                    json.dumps(answer_a, ensure_ascii=False),
                    json.dumps(answer_b, ensure_ascii=False),
                ),
            )
        return battle

    def get_battle(self, battle_id: str) -> Battle:
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM battles WHERE id = ?", (battle_id,)).fetchone()
        if row is None:
            raise BattleNotFound(f"no arena battle {battle_id!r}; start a new battle")
        return _battle(row)

    def record_vote(self, battle_id: str, winner: str) -> Vote:
        """Stores one verdict in one transaction; a battle takes one vote only."""
        if winner not in WINNERS:
            raise InputError(f"winner must be one of {', '.join(WINNERS)}, not {winner!r}")
        created = _now()
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT model_a, model_b FROM battles WHERE id = ?", (battle_id,)
            ).fetchone()
            if row is None:
                raise BattleNotFound(f"no arena battle {battle_id!r}; start a new battle")
            try:
                conn.execute(
                    "INSERT INTO votes (battle_id, winner, created_at) VALUES (?, ?, ?)",
                    (battle_id, winner, created),
                )
            except sqlite3.IntegrityError as err:
                raise AlreadyVoted(
                    f"battle {battle_id!r} already has a vote; start a new battle"
                ) from err
        return Vote(battle_id, row["model_a"], row["model_b"], winner, created)

    def votes(self) -> list[Vote]:
        """Every vote, oldest first, with the models it was about."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT v.battle_id, b.model_a, b.model_b, v.winner, v.created_at"
                " FROM votes v JOIN battles b ON b.id = v.battle_id ORDER BY v.id"
            ).fetchall()
        return [Vote(*tuple(r)) for r in rows]

    def vote_count(self) -> int:
        with self._connect() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM votes").fetchone()[0])

    def prune_unvoted(self, older_than: timedelta = timedelta(days=1)) -> int:
        """Deletes battles nobody voted on within `older_than`; returns how many went."""
        cutoff = (datetime.now(UTC) - older_than).isoformat(timespec="milliseconds")
        with self._transaction() as conn:
            cur = conn.execute(
                "DELETE FROM battles WHERE created_at < ?"
                " AND id NOT IN (SELECT battle_id FROM votes)",
                (cutoff,),
            )
            return cur.rowcount


def _battle(row: sqlite3.Row) -> Battle:
    return Battle(
        id=row["id"],
        created_at=row["created_at"],
        previous=row["previous"],
        model_a=row["model_a"],
        model_b=row["model_b"],
        answer_a=json.loads(row["answer_a"]),
        answer_b=json.loads(row["answer_b"]),
    )


def _statements(script: str) -> list[str]:
    # executescript() would COMMIT our open transaction, so run the statements one by one.
    return [s.strip() for s in script.split(";") if s.strip()]
