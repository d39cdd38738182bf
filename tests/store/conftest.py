"""The store's tests run against SQLite and a real PostgreSQL (a throw-away server started for
the test session: tsukeku.store.pgserver). Without the server binaries the PostgreSQL cases skip
with the reason — except in CI, where they must run (scripts/ensure-postgres.sh installs them)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tsukeku.store import Store, open_store
from tsukeku.store.pgserver import TempPostgres, unavailable_reason

DIALECTS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres() -> Iterator[TempPostgres]:
    reason = unavailable_reason()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
        pytest.skip(reason)
    with TempPostgres() as server:
        yield server


@pytest.fixture
def pg_url(postgres) -> Iterator[str]:
    """A fresh empty database on the session's server."""
    url = postgres.create_database()
    yield url
    postgres.drop_database(url)


@pytest.fixture(params=DIALECTS)
def db_url(request, tmp_path) -> str:
    """An empty database of each kind: a SQLite file path, or a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "store.sqlite3")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(db_url) -> Iterator[Store]:
    opened = open_store(db_url)
    yield opened
    opened.close()
