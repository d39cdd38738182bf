"""The arena store on a real SQLite file: migrations, WAL, one transaction per vote, threads.
(The same behaviour on PostgreSQL: tests/store.)"""

import sqlite3
import threading
from datetime import timedelta

import pytest

from tsukeku.arena.store import (
    AlreadyVoted,
    ArenaStore,
    BattleNotFound,
    default_db_path,
)
from tsukeku.errors import ConfigError, InputError
from tsukeku.store.database import head_revision

SCHEMA_VERSION = int(head_revision())
# The arena's schema as the code before Alembic wrote it (PRAGMA user_version 1, then 2).
OLD_MIGRATIONS = (
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
    """
    CREATE INDEX battles_created_at ON battles(created_at);
    CREATE INDEX votes_created_at ON votes(created_at);
    """,
)


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def old_arena_file(path, version: int, votes: int = 1):
    """An arena file written by the code before Alembic, at `version`, with `votes` votes."""
    with sqlite3.connect(path) as conn:
        for script in OLD_MIGRATIONS[:version]:
            for statement in _statements(script):
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {version}")
        for k in range(votes):
            conn.execute(
                "INSERT INTO battles VALUES (?, '2024-01-01T00:00:00.000+00:00', '前句', 'x',"
                " 'y', '{}', '{}')", (f"b{k}",))
            conn.execute("INSERT INTO votes (battle_id, winner, created_at) VALUES (?, 'a', 't')",
                         (f"b{k}",))
    conn.close()
    return path

ANSWER_A = {"text": "風にまかせて 舟の行く末", "reading": "かぜにまかせて ふねのゆくすえ"}
ANSWER_B = {"text": "遠き灯の 揺れて消えゆく", "reading": "とおきひの ゆれてきえゆく"}


def _battle(store: ArenaStore, a: str = "base", b: str = "lora"):
    return store.create_battle("夕月の 川面に落ちて 砕けけり", a, b, ANSWER_A, ANSWER_B)


def test_new_file_is_wal_and_at_the_latest_schema(tmp_path):
    store = ArenaStore(tmp_path / "arena.sqlite3")
    assert store.journal_mode() == "wal"
    assert store.schema_version() == SCHEMA_VERSION
    # WAL is a property of the file: a plain connection sees it too.
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_default_path_comes_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("TSUKEKU_ARENA_DB", str(tmp_path / "x" / "votes.db"))
    assert default_db_path() == tmp_path / "x" / "votes.db"
    monkeypatch.delenv("TSUKEKU_ARENA_DB")
    monkeypatch.setenv("TSUKEKU_HOME", str(tmp_path / "home"))
    assert default_db_path() == tmp_path / "home" / "arena.sqlite3"


@pytest.mark.parametrize("version", [1, 2])
def test_old_schema_is_migrated_and_keeps_its_data(tmp_path, version):
    path = old_arena_file(tmp_path / "old.sqlite3", version, votes=25)
    store = ArenaStore(path)
    assert store.schema_version() == SCHEMA_VERSION
    votes = store.votes()
    assert len(votes) == 25
    assert {(v.model_a, v.model_b, v.winner) for v in votes} == {("x", "y", "a")}
    with sqlite3.connect(path) as conn:
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        # An older tsukeku reads only user_version: it must see a version it refuses.
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()
    assert {"battles_created_at", "votes_created_at"} <= indexes
    assert {"alembic_version", "sessions", "session_verses", "session_events"} <= tables
    # Still one vote per battle after the upgrade, and new votes go in.
    with pytest.raises(AlreadyVoted):
        store.record_vote("b0", "b")
    store.record_vote(_battle(store).id, "tie")
    assert store.vote_count() == 26
    # Opening again is a no-op.
    assert ArenaStore(path).schema_version() == SCHEMA_VERSION


def test_newer_schema_is_refused_with_advice(tmp_path):
    path = tmp_path / "future.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(ConfigError, match="upgrade tsukeku"):
        ArenaStore(path)


def test_unknown_alembic_revision_is_refused_with_advice(tmp_path):
    path = tmp_path / "future.sqlite3"
    ArenaStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.close()
    with pytest.raises(ConfigError, match="upgrade tsukeku"):
        ArenaStore(path)


def test_vote_round_trip_and_one_vote_per_battle(tmp_path):
    store = ArenaStore(tmp_path / "a.db")
    battle = _battle(store)
    assert store.get_battle(battle.id).answer_b == ANSWER_B
    vote = store.record_vote(battle.id, "b")
    assert (vote.model_a, vote.model_b, vote.winner) == ("base", "lora", "b")
    with pytest.raises(AlreadyVoted):
        store.record_vote(battle.id, "a")
    with pytest.raises(BattleNotFound):
        store.record_vote("nope", "a")
    with pytest.raises(InputError, match="winner must be one of"):
        store.record_vote(_battle(store).id, "c")
    assert [v.winner for v in store.votes()] == ["b"]
    with pytest.raises(InputError):
        store.create_battle("前句", "same", "same", {}, {})


def test_each_vote_is_exactly_one_transaction(tmp_path):
    store = ArenaStore(tmp_path / "a.db")
    battles = [_battle(store) for _ in range(3)]
    store.db.trace = trace = []  # the SQLite statements run from now on
    for b in battles:
        store.record_vote(b.id, "tie")
    begins = [s for s in trace if s.startswith("BEGIN")]
    commits = [s for s in trace if s == "COMMIT"]
    inserts = [s for s in trace if s.startswith("INSERT INTO votes")]
    assert len(begins) == len(commits) == len(inserts) == 3
    # Each INSERT sits between its own BEGIN and COMMIT.
    for k, statement in enumerate(trace):
        if statement.startswith("INSERT INTO votes"):
            before = [s for s in trace[:k] if s.startswith("BEGIN") or s == "COMMIT"]
            assert before[-1].startswith("BEGIN")


def test_a_failed_vote_leaves_nothing_behind(tmp_path):
    store = ArenaStore(tmp_path / "a.db")
    battle = _battle(store)
    store.record_vote(battle.id, "a")
    with pytest.raises(AlreadyVoted):
        store.record_vote(battle.id, "b")
    # The rolled-back transaction released its lock: another writer gets in at once.
    with sqlite3.connect(store.path, timeout=0.1) as conn:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
    assert store.vote_count() == 1


def test_concurrent_votes_from_threads(tmp_path):
    store = ArenaStore(tmp_path / "a.db")
    battles = [_battle(store, f"m{k % 3}", f"m{k % 3 + 1}") for k in range(80)]
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def voter(chunk):
        try:
            start.wait()
            # A second store object = a separate "process" view of the same file.
            own = ArenaStore(store.path)
            for b in chunk:
                own.record_vote(b.id, "a")
        except BaseException as err:  # noqa: BLE001 - reported by the assert below
            errors.append(err)

    threads = [threading.Thread(target=voter, args=(battles[k::8],)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.vote_count() == 80
    assert len({v.battle_id for v in store.votes()}) == 80


def test_same_battle_voted_from_many_threads_counts_once(tmp_path):
    store = ArenaStore(tmp_path / "a.db")
    battle = _battle(store)
    outcomes: list[str] = []
    start = threading.Barrier(6)

    def voter():
        start.wait()
        try:
            store.record_vote(battle.id, "a")
            outcomes.append("ok")
        except AlreadyVoted:
            outcomes.append("dup")

    threads = [threading.Thread(target=voter) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["dup"] * 5 + ["ok"]
    assert store.vote_count() == 1


def test_no_personal_data_columns(tmp_path):
    store = ArenaStore(tmp_path / "a.db")
    with sqlite3.connect(store.path) as conn:
        columns = {
            row[1].lower()
            for table in ("battles", "votes")
            for row in conn.execute(f"PRAGMA table_info({table})")
        }
    for forbidden in ("ip", "addr", "agent", "user", "cookie", "session", "email"):
        assert not any(forbidden in c for c in columns), columns


def test_prune_unvoted_keeps_voted_battles(tmp_path):
    store = ArenaStore(tmp_path / "a.db")
    voted, unvoted = _battle(store), _battle(store)
    store.record_vote(voted.id, "a")
    assert store.prune_unvoted(timedelta(days=1)) == 0  # both are fresh
    assert store.prune_unvoted(timedelta(seconds=-1)) == 1  # everything is "old"
    with pytest.raises(BattleNotFound):
        store.get_battle(unvoted.id)
    assert store.get_battle(voted.id).id == voted.id
