"""One database behind the store: where it is (a SQLite file or a PostgreSQL URL), its engine,
one-transaction-per-call, and its schema (Alembic migrations shipped in the package).

SQLite runs in WAL mode and every write transaction is `BEGIN IMMEDIATE`, so writers from
threads and processes queue on the busy timeout instead of failing at COMMIT. PostgreSQL runs at
READ COMMITTED; races are decided by the UNIQUE constraints and row locks the callers take.

The arena's SQLite files from before Alembic carry `PRAGMA user_version` 1 or 2; those versions
are the revisions 0001 and 0002, so such a file is stamped and upgraded in place. After every
upgrade SQLite's user_version is set to the head revision's number as well, so that an older
tsukeku (which reads only user_version) refuses the newer file instead of misreading it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError

from tsukeku.store.errors import StoreConfigError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Revision ids are the schema's version numbers ("0003" = 3).
PRE_ALEMBIC_VERSIONS = {1: "0001", 2: "0002"}
# Serialises concurrent upgrades of one PostgreSQL database (any constant of our own).
ADVISORY_LOCK = 0x7473756B  # "tsuk"
DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg",
           "sqlite": "sqlite"}


def default_sqlite_path() -> Path:
    """$TSUKEKU_ARENA_DB, else `arena.sqlite3` under tsukeku.paths.home()."""
    from tsukeku.paths import home
    from tsukeku.settings import env

    configured = env().arena_db
    return configured.expanduser() if configured is not None else home() / "arena.sqlite3"


def resolve_url(url_or_path: str | os.PathLike | sa.URL | None) -> sa.URL:
    """None → $TSUKEKU_DATABASE_URL, else the URL in the Secrets Manager secret
    $TSUKEKU_DATABASE_SECRET, else the default SQLite file; a URL (postgresql://…,
    postgresql+psycopg://…, sqlite:///…) as given (psycopg is the PostgreSQL driver unless one
    is named); anything else is a SQLite file path."""
    from tsukeku.settings import env

    if url_or_path is None:
        settings = env()
        if settings.database_url:
            url_or_path = settings.database_url
        elif settings.database_secret:
            url_or_path = url_from_secret(settings.database_secret)
        else:
            url_or_path = default_sqlite_path()
    if isinstance(url_or_path, sa.URL):
        return url_or_path
    if isinstance(url_or_path, os.PathLike) or "://" not in str(url_or_path):
        path = Path(url_or_path).expanduser().resolve()
        return sa.URL.create("sqlite", database=str(path))
    try:
        url = make_url(str(url_or_path))
    except ArgumentError as err:
        raise StoreConfigError(f"cannot read the database URL ({err}); write it as "
                               "postgresql://USER:PASSWORD@HOST:5432/DBNAME") from None
    scheme = url.drivername.split("+")[0]
    if scheme not in DRIVERS:
        raise StoreConfigError(
            f"unsupported database {scheme!r}: use postgresql://… or a SQLite file path"
        )
    if "+" not in url.drivername:
        url = url.set(drivername=DRIVERS[scheme])
    return url


def url_from_secret(secret_id: str, client: Any = None) -> str | sa.URL:
    """The database URL kept in AWS Secrets Manager ($TSUKEKU_DATABASE_SECRET: a name or ARN).
    The secret is the URL itself, or the JSON RDS writes for a managed user (`host`, `port`,
    `username`, `password`, `dbname`)."""
    import json

    from botocore.exceptions import BotoCoreError, ClientError

    if client is None:
        import boto3

        client = boto3.client("secretsmanager")
    try:
        text = client.get_secret_value(SecretId=secret_id)["SecretString"]
    except (BotoCoreError, ClientError, KeyError) as err:
        raise StoreConfigError(
            f"could not read the database secret {secret_id!r} ({err}); give the instance's role "
            "secretsmanager:GetSecretValue on it, or set TSUKEKU_DATABASE_URL instead") from None
    if "://" in text.strip():
        return text.strip()
    try:
        fields = json.loads(text)
        return sa.URL.create(
            DRIVERS["postgresql"], username=fields["username"], password=fields["password"],
            host=fields["host"], port=int(fields.get("port") or 5432),
            database=fields.get("dbname") or fields.get("database") or "postgres",
            query={"sslmode": fields.get("sslmode", "require")},
        )
    except (ValueError, KeyError, TypeError) as err:
        raise StoreConfigError(
            f"the database secret {secret_id!r} is neither a URL nor RDS's JSON with host, "
            f"username and password ({type(err).__name__}: {err})") from None


class Database:
    """An engine plus what every store object needs from it."""

    def __init__(self, url: sa.URL, *, timeout_s: float = 10.0) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.dialect = url.get_backend_name()  # "sqlite" | "postgresql"
        self.path: Path | None = Path(url.database) if self.dialect == "sqlite" else None
        self.trace: list[str] | None = None  # SQLite: set to a list to record the statements
        self._migrate_lock = threading.Lock()
        self.engine = self._engine()

    @classmethod
    def open(cls, url_or_path: str | os.PathLike | None = None, *, timeout_s: float = 10.0,
             migrate: bool = True) -> Database:
        db = cls(resolve_url(url_or_path), timeout_s=timeout_s)
        try:
            if db.path is not None:
                db._check_wal()
            if migrate:
                db.upgrade()
        except OperationalError as err:
            db.close()
            raise db.unusable(err) from err
        except BaseException:
            db.close()
            raise
        return db

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def describe(self) -> str:
        """The URL without its password (for messages and logs)."""
        return str(self.path) if self.path is not None else self.url.render_as_string()

    def _engine(self) -> Engine:
        if self.is_sqlite:
            assert self.path is not None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(self.url, connect_args={"timeout": self.timeout_s})
            timeout_ms = int(self.timeout_s * 1000)

            @event.listens_for(engine, "connect")
            def _on_connect(dbapi_conn: Any, _record: Any) -> None:
                # The driver's own transaction handling off: we issue BEGIN IMMEDIATE ourselves.
                dbapi_conn.isolation_level = None
                dbapi_conn.execute("PRAGMA foreign_keys = ON")
                dbapi_conn.execute(f"PRAGMA busy_timeout = {timeout_ms}")

            @event.listens_for(engine, "checkout")
            def _on_checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
                dbapi_conn.set_trace_callback(
                    self.trace.append if self.trace is not None else None)

            @event.listens_for(engine, "begin")
            def _on_begin(conn: Connection) -> None:
                # IMMEDIATE takes the write lock up front, so concurrent writers queue on
                # busy_timeout instead of failing with "database is locked" at COMMIT. Reads
                # take a plain (deferred) snapshot and never wait for a writer (WAL).
                reading = conn.get_execution_options().get("tsukeku_read", False)
                conn.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")

            return engine
        return sa.create_engine(
            self.url, pool_pre_ping=True, pool_size=8, max_overflow=8,
            pool_timeout=self.timeout_s,
            connect_args={"connect_timeout": max(1, int(self.timeout_s)),
                          "application_name": "tsukeku"},
        )

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back on any exception."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads that sees one snapshot for all its statements (SQLite: a
        deferred transaction; PostgreSQL: REPEATABLE READ, which never fails a reader)."""
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn.execution_options(tsukeku_read=True)
            else:
                conn.execution_options(isolation_level="REPEATABLE READ")
            yield conn

    def close(self) -> None:
        self.engine.dispose()

    # -- schema ------------------------------------------------------------------------------

    def _check_wal(self) -> None:
        import sqlite3

        # Switching a new file to WAL needs it alone: SQLite answers "database is locked" at
        # once, without its busy handler, while another instance starting at the same moment
        # holds it (seen with five instances opening one new file). Retry until the timeout.
        deadline = time.monotonic() + self.timeout_s
        while True:
            raw = self.engine.raw_connection()
            try:
                mode = raw.driver_connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) or time.monotonic() > deadline:
                    raise StoreConfigError(
                        f"cannot use the database {self.describe()}: {err}") from err
            finally:
                raw.close()
            time.sleep(0.02)
        if str(mode).lower() != "wal":
            raise StoreConfigError(
                f"could not switch {self.path} to WAL mode (got {mode!r}); put the database on "
                "a local file system (set TSUKEKU_ARENA_DB) or use PostgreSQL "
                "(TSUKEKU_DATABASE_URL)"
            )

    def journal_mode(self) -> str:
        if not self.is_sqlite:
            return "postgresql"
        with self.read() as conn:
            return str(conn.exec_driver_sql("PRAGMA journal_mode").scalar())

    def schema_version(self) -> int:
        """The applied revision as a number (0: empty database)."""
        with self.read() as conn:
            revision = _current_revision(conn)
        return int(revision) if revision else 0

    def unusable(self, err: OperationalError) -> StoreConfigError:
        return StoreConfigError(
            f"cannot use the database {self.describe()}: {str(err.orig).strip()}; check the "
            "URL, that the server is up and reachable (network, security group) and the "
            "credentials")

    def upgrade(self) -> int:
        """Applies every migration not yet applied, in one transaction, safe to run from several
        processes at once; returns the schema version."""
        try:
            return self._upgrade()
        except OperationalError as err:
            raise self.unusable(err) from err

    def _upgrade(self) -> int:
        from alembic import command

        head = head_revision()
        with self._migrate_lock, self.begin() as conn:
            if self.is_sqlite:
                conn.exec_driver_sql("SELECT 1")  # BEGIN IMMEDIATE: the write lock, now
            else:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK})
            current = _current_revision(conn)
            if current is None and self.is_sqlite:
                current = self._bridge_user_version(conn)
            if current is not None and current not in all_revisions():
                raise StoreConfigError(
                    f"{self.describe()} has schema revision {current}, newer than this tsukeku "
                    f"understands ({head}); upgrade tsukeku or point TSUKEKU_DATABASE_URL / "
                    "TSUKEKU_ARENA_DB elsewhere"
                )
            if current != head:
                config = _alembic_config(conn)
                command.upgrade(config, "head")
            if self.is_sqlite:
                # PRAGMA takes no bound parameters; head is our own number.
                conn.exec_driver_sql(f"PRAGMA user_version = {int(head)}")
        return int(head)

    def _bridge_user_version(self, conn: Connection) -> str | None:
        """A pre-Alembic arena file: stamp the revision its user_version stands for."""
        from alembic import command

        version = int(conn.exec_driver_sql("PRAGMA user_version").scalar() or 0)
        if version == 0:
            return None
        revision = PRE_ALEMBIC_VERSIONS.get(version)
        if revision is None:
            raise StoreConfigError(
                f"{self.describe()} has arena schema version {version}, newer than this tsukeku "
                f"understands ({int(head_revision())}); upgrade tsukeku or point "
                "TSUKEKU_ARENA_DB elsewhere"
            )
        command.stamp(_alembic_config(conn), revision)
        return revision


def unique_violation(err: IntegrityError) -> bool:
    """Whether an IntegrityError is a UNIQUE constraint (a lost race), not a missing row."""
    code = getattr(err.orig, "sqlstate", None)  # psycopg
    if code is not None:
        return code == "23505"
    return "UNIQUE constraint failed" in str(err.orig)


def _alembic_config(conn: Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = conn
    return config


def _script() -> Any:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS_DIR))


def head_revision() -> str:
    head = _script().get_current_head()
    assert head is not None, "the package ships its migrations"
    return head


def all_revisions() -> set[str]:
    return {rev.revision for rev in _script().walk_revisions()}


def _current_revision(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()
