"""Arena battles and votes: the arena's view of `tsukeku.store` (SQLite by default, PostgreSQL
when $TSUKEKU_DATABASE_URL names one). `ArenaStore(path_or_url)` opens a database of its own and
upgrades its schema (Alembic; an arena file from before Alembic, PRAGMA user_version 1 or 2, is
upgraded in place); inside the server the arena shares the store's database (`open_store().arena`).

No personal data: no IP address, user agent, cookie or account is stored — only the 前句 typed,
the two answers, the two model names, the verdict and UTC timestamps.
"""

from __future__ import annotations

from tsukeku.store.arena import ArenaStore
from tsukeku.store.database import default_sqlite_path as default_db_path
from tsukeku.store.errors import AlreadyVoted, BattleNotFound
from tsukeku.store.records import WINNERS, Battle, Vote

ENV_DB = "TSUKEKU_ARENA_DB"

__all__ = ["ENV_DB", "WINNERS", "AlreadyVoted", "ArenaStore", "Battle", "BattleNotFound", "Vote",
           "default_db_path"]
