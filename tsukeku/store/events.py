"""Session events across instances: an outbox table plus a wake-up signal.

Every change to a session writes an event row in the same transaction as the change, so an event
exists exactly when its change committed. Readers ask for the events after the last id they saw
(`since`), or wait for them (`wait`). Waking up:
- in this process: the writer signals its waiters after commit (both databases);
- other processes on PostgreSQL: the writing transaction also runs `pg_notify` (delivered at
  commit); one listener thread per process (LISTEN on its own connection) wakes the waiters;
- always, as the fallback (NOTIFY unavailable, the listener reconnecting, SQLite shared by two
  processes): waiters re-read the table at a bounded interval.

Ids are a per-database serial; a session's writes take its row lock first, so within one session
ids commit in increasing order and "after id N" never skips an event.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tsukeku.store.database import Database
from tsukeku.store.records import Event
from tsukeku.store.schema import session_events

log = logging.getLogger("tsukeku.store")

CHANNEL = "tsukeku_events"
LISTENER_NAME = "tsukeku-listen"  # its connection's application_name (pg_stat_activity)
POLL_S = 0.5  # the fallback's bound on delay (no listener, or SQLite)
SAFETY_POLL_S = 5.0  # with a live PostgreSQL listener: a notification lost in transit


class EventBus:
    def __init__(self, db: Database, *, poll_s: float = POLL_S) -> None:
        self.db = db
        self.poll_s = poll_s
        self._lock = threading.Lock()
        self._waiters: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self._listener: threading.Thread | None = None
        self._listening = threading.Event()
        self._stop = threading.Event()

    # -- writing (inside the caller's transaction) --------------------------------------------

    def publish(self, conn: Connection, session_id: str, kind: str, payload: dict[str, Any],
                created_at: str) -> int:
        """Writes the event row in `conn`'s transaction; on PostgreSQL also queues the NOTIFY
        (sent by the server at commit, dropped on rollback). Call `signal` after commit."""
        event_id = conn.execute(
            session_events.insert().values(session_id=session_id, kind=kind,
                                           payload=json.dumps(payload, ensure_ascii=False),
                                           created_at=created_at)
            .returning(session_events.c.id)
        ).scalar_one()
        if not self.db.is_sqlite:
            conn.execute(sa.text("SELECT pg_notify(:channel, :sid)"),
                         {"channel": CHANNEL, "sid": session_id})
        return int(event_id)

    def signal(self, session_id: str) -> None:
        """Wakes this process's waiters on `session_id` (any thread may call it)."""
        with self._lock:
            waiters = list(self._waiters.get(session_id, ()))
        for loop, flag in waiters:
            try:
                loop.call_soon_threadsafe(flag.set)
            except RuntimeError:  # that loop has closed; its waiter is gone
                pass

    def _signal_all(self) -> None:
        with self._lock:
            sessions = list(self._waiters)
        for session_id in sessions:
            self.signal(session_id)

    # -- reading -------------------------------------------------------------------------------

    def since(self, session_id: str, after_id: int = 0, *, limit: int = 500) -> list[Event]:
        """The session's events with an id above `after_id`, oldest first."""
        query = (session_events.select()
                 .where(session_events.c.session_id == session_id,
                        session_events.c.id > after_id)
                 .order_by(session_events.c.id).limit(limit))
        with self.db.read() as conn:
            return [Event(id=r.id, session_id=r.session_id, kind=r.kind,
                          payload=json.loads(r.payload), created_at=r.created_at)
                    for r in conn.execute(query)]

    def last_id(self, session_id: str) -> int:
        """The id of the session's newest event (0 when none): where a new stream starts."""
        query = sa.select(sa.func.max(session_events.c.id)).where(
            session_events.c.session_id == session_id)
        with self.db.read() as conn:
            return int(conn.execute(query).scalar() or 0)

    async def wait(self, session_id: str, after_id: int, timeout_s: float) -> list[Event]:
        """Returns as soon as the session has events after `after_id`, or [] after
        `timeout_s`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        self._ensure_listener()
        flag = asyncio.Event()
        entry = (loop, flag)
        with self._lock:
            self._waiters.setdefault(session_id, set()).add(entry)
        try:
            while True:
                flag.clear()  # before reading: a signal during the read is not lost
                events = await asyncio.to_thread(self.since, session_id, after_id)
                remaining = deadline - loop.time()
                if events or remaining <= 0:
                    return events
                poll = SAFETY_POLL_S if self._listening.is_set() else self.poll_s
                try:
                    await asyncio.wait_for(flag.wait(), min(remaining, poll))
                except TimeoutError:
                    pass
        finally:
            with self._lock:
                waiting = self._waiters.get(session_id)
                if waiting is not None:
                    waiting.discard(entry)
                    if not waiting:
                        del self._waiters[session_id]

    # -- the PostgreSQL listener ---------------------------------------------------------------

    @property
    def listening(self) -> bool:
        """Whether this process is LISTENing (PostgreSQL, listener connected)."""
        return self._listening.is_set()

    def _ensure_listener(self) -> None:
        if self.db.is_sqlite or self._listener is not None:
            return
        with self._lock:
            if self._listener is None and not self._stop.is_set():
                self._listener = threading.Thread(target=self._listen, name="tsukeku-listen",
                                                  daemon=True)
                self._listener.start()

    def start_listener(self) -> None:
        """Starts LISTENing now (else on the first `wait`); returns once connected, or after a
        few seconds with the polling fallback in charge."""
        self._ensure_listener()
        if not self.db.is_sqlite:
            self._listening.wait(5.0)

    def _listen(self) -> None:
        import psycopg

        conninfo = self.db.url.set(drivername="postgresql").render_as_string(hide_password=False)
        backoff = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True, connect_timeout=5,
                                     application_name=LISTENER_NAME) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    backoff = 0.5
                    self._signal_all()  # whatever happened while we were not listening
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self.signal(note.payload)
            except Exception as err:  # noqa: BLE001 - a dropped connection: poll, then retry
                self._listening.clear()
                if self._stop.is_set():
                    break
                log.warning("event listener lost its connection (%s); polling every %.1f s "
                            "until it is back", err, self.poll_s)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
        self._listening.clear()

    def close(self) -> None:
        self._stop.set()
        listener = self._listener
        if listener is not None:
            listener.join(timeout=3.0)
