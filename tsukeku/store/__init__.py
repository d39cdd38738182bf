"""The store: the arena's battles and votes and the renga sessions, in one database shared by
every instance of the endpoint — SQLite (WAL) by default, PostgreSQL when a URL names one.

    from tsukeku.store import open_store
    store = open_store()        # $TSUKEKU_DATABASE_URL, else the SQLite file (as the arena's)
    store.arena                 # battles and votes (tsukeku.arena's ArenaStore)
    store.sessions              # renga sessions
    store.events                # session events, across instances
    store.close()

Migrations (Alembic, shipped in tsukeku/store/migrations) run when a store is opened and with
`tsukeku db upgrade`; the same revisions create SQLite and PostgreSQL.
"""

from __future__ import annotations

import os

from tsukeku.store.arena import ArenaStore
from tsukeku.store.database import Database, default_sqlite_path, resolve_url
from tsukeku.store.errors import (
    AlreadyVoted,
    BattleNotFound,
    SeatConflict,
    SessionClosed,
    SessionNotFound,
    StoreConfigError,
)
from tsukeku.store.events import EventBus
from tsukeku.store.records import (
    Battle,
    Event,
    Participant,
    SessionRecord,
    SessionSummary,
    SessionVerse,
    Vote,
)
from tsukeku.store.sessions import SessionStore


class Store:
    """One open database and the objects over it."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.arena = ArenaStore(database=db)
        self.events = EventBus(db)
        self.sessions = SessionStore(db, self.events)

    @property
    def dialect(self) -> str:
        return self.db.dialect

    def describe(self) -> str:
        return self.db.describe()

    def close(self) -> None:
        self.events.close()
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(url_or_path: str | os.PathLike | None = None, *, timeout_s: float = 10.0,
               migrate: bool = True) -> Store:
    """None → $TSUKEKU_DATABASE_URL, else the SQLite file ($TSUKEKU_ARENA_DB or
    home()/arena.sqlite3); a postgresql://… URL → PostgreSQL; a path → SQLite (WAL). The schema
    is upgraded unless `migrate=False`."""
    return Store(Database.open(url_or_path, timeout_s=timeout_s, migrate=migrate))


__all__ = [
    "AlreadyVoted", "ArenaStore", "Battle", "BattleNotFound", "Database", "Event", "EventBus",
    "Participant", "SeatConflict", "SessionClosed", "SessionNotFound", "SessionRecord",
    "SessionStore", "SessionSummary", "SessionVerse", "Store", "StoreConfigError", "Vote",
    "default_sqlite_path", "open_store", "resolve_url",
]
