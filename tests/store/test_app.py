"""The server opens the store from `database_url` (`tsukeku serve --database-url`): the arena and
the sessions on that database, and a database it cannot reach leaves them at 503 with the rest
of the server up."""

from __future__ import annotations

import subprocess
import sys

from fastapi.testclient import TestClient

from tests.serving.conftest import RecordingBackend
from tsukeku.serving.app import create_app
from tsukeku.serving.settings import ServeSettings
from tsukeku.store import open_store


def _app(database_url: str):
    backends = {"alpha": RecordingBackend("alpha"), "beta": RecordingBackend("beta")}
    return create_app(backends, ServeSettings(batch_window_ms=0), database_url=database_url)


def test_the_app_serves_the_arena_and_sessions_from_the_url(db_url):
    with open_store(db_url) as store:
        battle = store.arena.create_battle("前句", "alpha", "beta", {"text": "x"}, {"text": "y"})
    app = _app(db_url)
    with TestClient(app) as client:
        assert app.state.store.dialect == ("sqlite" if "://" not in db_url else "postgresql")
        assert app.state.arena_store is app.state.store.arena
        vote = client.post(f"/api/arena/battles/{battle.id}/vote", json={"winner": "a"})
        assert vote.status_code == 200, vote.text
        assert client.get("/api/arena/leaderboard").json()["total_votes"] == 1
        made = client.post("/api/sessions", json={"participants": [{"name": "甲"}]})
        assert made.status_code == 201, made.text
    with open_store(db_url) as store:  # written to that database, and the app closed its store
        assert store.arena.vote_count() == 1
        assert store.sessions.count_sessions() == 1


def test_an_unreachable_database_leaves_the_arena_at_503_and_the_server_up():
    app = _app("postgresql://nobody:pw@127.0.0.1:1/none")
    with TestClient(app) as client:
        assert client.get("/ping").status_code == 200
        board = client.get("/api/arena/leaderboard")
        assert board.status_code == 503
        message = board.json()["error"]["message"]
        assert "TSUKEKU_DATABASE_URL" in message and "pw" not in message
        assert client.get("/api/sessions").status_code == 503


def test_serve_has_the_option():
    out = subprocess.run([sys.executable, "-m", "tsukeku", "serve", "--help"],
                         capture_output=True, text=True, timeout=60)
    assert "--database-url" in out.stdout
