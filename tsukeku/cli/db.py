"""`tsukeku db …`: the store's database for operators — upgrade its schema, export its data."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from tsukeku.errors import InputError

db_app = typer.Typer(help="The arena's and sessions' database (SQLite or PostgreSQL).",
                     no_args_is_help=True)

_URL_HELP = ("postgresql://USER:PASSWORD@HOST:5432/DB or a SQLite file. Default: "
             "$TSUKEKU_DATABASE_URL, else the SQLite file ($TSUKEKU_ARENA_DB or "
             "~/.cache/tsukeku/arena.sqlite3)")


@db_app.command("upgrade")
def upgrade_cmd(
    database_url: str | None = typer.Option(None, "--database-url", help=_URL_HELP),
) -> None:
    """Create the tables or apply the migrations not yet applied (safe while servers run, and
    from several machines at once). Prints the database and its schema version as JSON."""
    from tsukeku.store import open_store

    with open_store(database_url, migrate=False) as store:
        version = store.db.upgrade()
        typer.echo(json.dumps({"database": store.describe(), "dialect": store.dialect,
                               "schema_version": version}, ensure_ascii=False))


@db_app.command("export")
def export_cmd(
    out: Path = typer.Option(..., "--out", "-o",
                             help="directory for votes.jsonl, battles.jsonl, sessions.jsonl"),
    table: list[str] = typer.Option([], "--table", "-t",
                                    help="votes, battles or sessions (repeatable; default all)"),
    database_url: str | None = typer.Option(None, "--database-url", help=_URL_HELP),
) -> None:
    """Export votes, battles and renga sessions as JSON Lines (one record per line; the shapes
    are listed in docs/architecture.md)."""
    from tsukeku.io import write_jsonl_atomic
    from tsukeku.store import open_store
    from tsukeku.store.export import TABLES, records

    unknown = sorted(set(table) - set(TABLES))
    if unknown:
        raise InputError(f"unknown table {', '.join(unknown)}; choose from {', '.join(TABLES)}")
    with open_store(database_url) as store:
        counts = {}
        for name in table or TABLES:
            rows = list(records(store, name))
            write_jsonl_atomic(out / f"{name}.jsonl", rows)
            counts[name] = len(rows)
    typer.echo(json.dumps({"out": str(out), "records": counts}, ensure_ascii=False))


def register(app: typer.Typer) -> None:
    """Adds this area's commands to the top-level app."""
    app.add_typer(db_app, name="db")
