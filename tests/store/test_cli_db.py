"""`tsukeku db upgrade` / `tsukeku db export` on both databases, through the real CLI."""

from __future__ import annotations

import json
import sqlite3

from typer.testing import CliRunner

from tests.arena.test_store import old_arena_file
from tsukeku.cli import app
from tsukeku.store import open_store
from tsukeku.store.database import head_revision

from .test_sessions import _new, _post

runner = CliRunner()


def test_upgrade_creates_the_schema(db_url):
    result = runner.invoke(app, ["db", "upgrade", "--database-url", db_url])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["schema_version"] == int(head_revision())
    assert "@" not in info["database"] or "postgresql" in info["database"]
    again = runner.invoke(app, ["db", "upgrade", "--database-url", db_url])
    assert json.loads(again.output) == info  # a no-op the second time


def test_upgrade_an_old_arena_file_keeps_every_vote(tmp_path, monkeypatch):
    path = old_arena_file(tmp_path / "arena.sqlite3", 2, votes=40)
    monkeypatch.setenv("TSUKEKU_ARENA_DB", str(path))
    monkeypatch.delenv("TSUKEKU_DATABASE_URL", raising=False)
    result = runner.invoke(app, ["db", "upgrade"])  # the default: $TSUKEKU_ARENA_DB
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["schema_version"] == int(head_revision())
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM votes").fetchone()[0] == 40
    conn.close()


def test_export_writes_votes_battles_sessions(db_url, tmp_path):
    with open_store(db_url) as store:
        voted = store.arena.create_battle("前句", "a", "b", {"text": "x"}, {"text": "y"})
        store.arena.create_battle("前句", "b", "c", {"text": "x"}, {"text": "y"})
        store.arena.record_vote(voted.id, "tie")
        session = _new(store)
        _post(store, session, 1)
    out = tmp_path / "export"
    result = runner.invoke(app, ["db", "export", "--out", str(out), "--database-url", db_url])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["records"] == {"votes": 1, "battles": 2, "sessions": 1}

    def read(name):
        return [json.loads(line) for line in (out / f"{name}.jsonl").read_text().splitlines()]

    [vote] = read("votes")
    from tsukeku.serving.routes.arena import VOTES_COLUMNS

    assert list(vote) == VOTES_COLUMNS  # the columns of votes.csv
    assert (vote["previous"], vote["answer_a"], vote["answer_b"]) == ("前句", "x", "y")
    assert (vote["battle_id"], vote["winner"]) == (voted.id, "tie")
    assert sorted(b["winner"] or "-" for b in read("battles")) == ["-", "tie"]
    [s] = read("sessions")
    assert s["id"] == session.id and s["verses"][0]["seat"] == 1
    assert "host_token" not in s and "join_token" not in s
    bad = runner.invoke(app, ["db", "export", "--out", str(out), "-t", "users",
                              "--database-url", db_url])
    assert bad.exit_code != 0
