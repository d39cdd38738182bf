"""Waiting for session events: in this process, from another store object (another instance),
and from another process (PostgreSQL: LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio
import sys
import time

from tsukeku.store import open_store

from .test_sessions import _new, _post


def test_wait_returns_at_once_when_events_are_there(store):
    s = _new(store)
    _post(store, s, 1)
    events = asyncio.run(store.events.wait(s.id, 0, timeout_s=5))
    assert [e.kind for e in events] == ["verse"]


def test_wait_times_out_empty(store):
    s = _new(store)
    started = time.monotonic()
    assert asyncio.run(store.events.wait(s.id, 0, timeout_s=0.3)) == []
    assert 0.25 < time.monotonic() - started < 3


def _wait_while_writing(waiter_store, writer_store, session_id: str, writer_session) -> float:
    """Seconds from the writer's commit until `waiter_store`'s wait returns the verse."""

    async def scenario() -> float:
        task = asyncio.create_task(waiter_store.events.wait(session_id, 0, timeout_s=10))
        await asyncio.sleep(0.7)  # the waiter is parked (past one poll interval)
        assert not task.done()
        await asyncio.to_thread(_post, writer_store, writer_session, 1)
        committed = time.monotonic()
        events = await task
        assert [e.kind for e in events] == ["verse"]
        return time.monotonic() - committed

    return asyncio.run(scenario())


def test_a_write_in_this_process_wakes_the_waiter(store):
    s = _new(store)
    assert _wait_while_writing(store, store, s.id, s) < 0.3


def test_a_write_by_another_instance_reaches_the_waiter_within_a_second(store, db_url):
    s = _new(store)
    other = open_store(db_url)
    try:
        store.events.start_listener()
        delay = _wait_while_writing(store, other, s.id, s)
    finally:
        other.close()
    assert delay < 1.0
    if store.dialect == "postgresql":
        assert store.events.listening  # woken by NOTIFY, not only by polling


WRITER = """
import sys
from tsukeku.store import open_store
store = open_store(sys.argv[1])
store.sessions.add_verse(sys.argv[2], seat=1, text="秋風の 吹きわたりたる 野の果てに",
                         reading=None, kind="長句", season="秋", topics=(), author="機",
                         participant_id=None)
print("written", flush=True)
"""


def test_a_write_by_another_process_reaches_the_waiter_within_a_second(store, db_url):
    s = _new(store)
    store.events.start_listener()

    async def scenario() -> float:
        task = asyncio.create_task(store.events.wait(s.id, 0, timeout_s=20))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", WRITER, db_url, s.id, stdout=asyncio.subprocess.PIPE)
        line = await proc.stdout.readline()  # the writer committed
        written = time.monotonic()
        assert line.strip() == b"written"
        events = await task
        await proc.wait()
        assert [e.payload["season"] for e in events] == ["秋"]
        return time.monotonic() - written

    assert asyncio.run(scenario()) < 1.0


def test_a_dropped_listener_connection_misses_nothing_and_reconnects(pg_url):
    """What a database failover or a proxy restart does to the LISTEN connection."""
    import sqlalchemy as sa

    from tsukeku.store.events import LISTENER_NAME

    store, other = open_store(pg_url), open_store(pg_url)
    try:
        s = _new(store)
        store.events.start_listener()
        assert store.events.listening
        with other.db.begin() as conn:
            dropped = conn.execute(sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = :name"), {"name": LISTENER_NAME}).scalar()
        assert dropped == 1
        assert _wait_while_writing(store, other, s.id, s) < 1.0
        deadline = time.monotonic() + 10
        while not store.events.listening and time.monotonic() < deadline:
            time.sleep(0.1)
        assert store.events.listening  # back, after its backoff
    finally:
        other.close()
        store.close()
