"""Renga sessions (座) in the store: the session, its participants, its verses and its events.

Every method is one transaction. A change first takes the session's row lock (an UPDATE of its
`updated_at`), so changes to one session are serialised across instances; which verse wins a
seat is decided by the UNIQUE (session_id, seat) constraint, the loser gets SeatConflict. Each
change writes its event (tsukeku.store.events) in the same transaction. What a session may hold
(limits, rules, whose turn) is the sessions package's business; this layer keeps it consistent.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from tsukeku.errors import InputError
from tsukeku.store.arena import now
from tsukeku.store.database import Database, unique_violation
from tsukeku.store.errors import SeatConflict, SessionClosed, SessionNotFound
from tsukeku.store.events import EventBus
from tsukeku.store.records import (
    FORMS,
    PARTICIPANT_KINDS,
    STATUSES,
    TURN_ORDERS,
    VERSE_KINDS,
    Participant,
    SessionRecord,
    SessionSummary,
    SessionVerse,
)
from tsukeku.store.schema import participants, session_verses, sessions


def _one_of(value: Any, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise InputError(f"{what} must be one of {', '.join(allowed)}, not {value!r}")


class SessionStore:
    def __init__(self, db: Database, events: EventBus) -> None:
        self.db = db
        self.events = events

    # -- writes ----------------------------------------------------------------------------------

    def create_session(self, *, title: str, form: str, profile: str, turn_order: str,
                       participants: list[Mapping[str, Any]]) -> SessionRecord:
        _one_of(form, FORMS, "form")
        _one_of(turn_order, TURN_ORDERS, "turn_order")
        for p in participants:
            _one_of(p.get("kind"), PARTICIPANT_KINDS, "a participant's kind")
        session_id = uuid.uuid4().hex
        created = now()
        with self.db.begin() as conn:
            conn.execute(sessions.insert().values(
                id=session_id, title=title, form=form, profile=profile, turn_order=turn_order,
                status="open", created_at=created, updated_at=created,
                join_token=secrets.token_urlsafe(16), host_token=secrets.token_urlsafe(24),
            ))
            for position, p in enumerate(participants):
                self._insert_participant(conn, session_id, position, p)
        return self.get_session(session_id)

    def add_participant(self, session_id: str, name: str, kind: str,
                        model: str | None = None) -> Participant:
        _one_of(kind, PARTICIPANT_KINDS, "kind")
        with self.db.begin() as conn:
            stamp = self._lock(conn, session_id, open_only=True)
            position = conn.execute(
                sa.select(sa.func.coalesce(sa.func.max(participants.c.position) + 1, 0))
                .where(participants.c.session_id == session_id)).scalar_one()
            added = self._insert_participant(
                conn, session_id, int(position), {"name": name, "kind": kind, "model": model})
            self.events.publish(conn, session_id, "participant", added.to_dict(), stamp)
        self.events.signal(session_id)
        return added

    def add_verse(self, session_id: str, *, seat: int, text: str, reading: str | None,
                  kind: str, season: str | None, topics: Iterable[str], author: str,
                  participant_id: int | None, accepted: Iterable[str] = ()) -> SessionVerse:
        """Adds the verse for `seat`, which must be the session's next seat."""
        _one_of(kind, VERSE_KINDS, "kind")
        try:
            with self.db.begin() as conn:
                stamp = self._lock(conn, session_id, open_only=True)
                next_seat = 1 + int(conn.execute(
                    sa.select(sa.func.count()).select_from(session_verses)
                    .where(session_verses.c.session_id == session_id)).scalar_one())
                if seat != next_seat:
                    raise SeatConflict(_seat_message(session_id, seat, next_seat))
                if participant_id is not None:
                    self._check_participant(conn, session_id, participant_id)
                verse = SessionVerse(seat=seat, text=text, reading=reading, kind=kind,
                                     season=season, topics=tuple(topics), author=author,
                                     participant_id=participant_id, accepted=tuple(accepted),
                                     created_at=stamp)
                conn.execute(session_verses.insert().values(
                    session_id=session_id, seat=seat, text=text, reading=reading, kind=kind,
                    season=season, topics=_json(verse.topics), author=author,
                    participant_id=participant_id, accepted=_json(verse.accepted),
                    created_at=stamp,
                ))
                self.events.publish(conn, session_id, "verse", verse.to_dict(), stamp)
        except IntegrityError as err:
            if not unique_violation(err):
                raise
            # Another instance committed this seat first.
            raise SeatConflict(_seat_message(session_id, seat, None)) from None
        self.events.signal(session_id)
        return verse

    def take_back(self, session_id: str) -> SessionVerse | None:
        """Removes the session's last verse and returns it (None when it has none)."""
        with self.db.begin() as conn:
            stamp = self._lock(conn, session_id)
            row = conn.execute(
                session_verses.select().where(session_verses.c.session_id == session_id)
                .order_by(session_verses.c.seat.desc()).limit(1)).first()
            if row is None:
                return None
            conn.execute(session_verses.delete().where(session_verses.c.id == row.id))
            self.events.publish(conn, session_id, "take_back", {"seat": row.seat}, stamp)
        self.events.signal(session_id)
        return _verse(row)

    def set_status(self, session_id: str, status: str) -> None:
        _one_of(status, STATUSES, "status")
        with self.db.begin() as conn:
            stamp = self._lock(conn, session_id)
            conn.execute(sessions.update().where(sessions.c.id == session_id)
                         .values(status=status))
            self.events.publish(conn, session_id, "status", {"status": status}, stamp)
        self.events.signal(session_id)

    # -- reads -----------------------------------------------------------------------------------

    def get_session(self, session_id: str) -> SessionRecord:
        with self.db.read() as conn:
            row = conn.execute(sessions.select().where(sessions.c.id == session_id)).first()
            if row is None:
                raise SessionNotFound(_not_found(session_id))
            people = conn.execute(participants.select()
                                  .where(participants.c.session_id == session_id)
                                  .order_by(participants.c.position)).all()
            verses = conn.execute(session_verses.select()
                                  .where(session_verses.c.session_id == session_id)
                                  .order_by(session_verses.c.seat)).all()
        m = row._mapping
        return SessionRecord(
            **{k: m[k] for k in ("id", "title", "form", "profile", "turn_order", "status",
                                 "created_at", "updated_at", "join_token", "host_token")},
            participants=tuple(_participant(p) for p in people),
            verses=tuple(_verse(v) for v in verses),
        )

    def list_sessions(self, *, status: str | None = None, limit: int = 50) -> list[SessionSummary]:
        """The most recently changed sessions first."""
        counts = (sa.select(session_verses.c.session_id, sa.func.count().label("n"))
                  .group_by(session_verses.c.session_id).subquery())
        query = (sa.select(sessions.c.id, sessions.c.title, sessions.c.form, sessions.c.status,
                           sa.func.coalesce(counts.c.n, 0), sessions.c.created_at,
                           sessions.c.updated_at)
                 .outerjoin(counts, counts.c.session_id == sessions.c.id)
                 .order_by(sessions.c.updated_at.desc(), sessions.c.id).limit(limit))
        if status is not None:
            query = query.where(sessions.c.status == status)
        with self.db.read() as conn:
            return [SessionSummary(*row) for row in conn.execute(query)]

    def count_sessions(self, status: str | None = "open") -> int:
        query = sa.select(sa.func.count()).select_from(sessions)
        if status is not None:
            query = query.where(sessions.c.status == status)
        with self.db.read() as conn:
            return int(conn.execute(query).scalar_one())

    def session_ids(self) -> list[str]:
        """Every session's id, oldest first (exports)."""
        with self.db.read() as conn:
            return list(conn.execute(sa.select(sessions.c.id)
                                     .order_by(sessions.c.created_at, sessions.c.id)).scalars())

    # -- helpers ---------------------------------------------------------------------------------

    def _lock(self, conn: Connection, session_id: str, *, open_only: bool = False) -> str:
        """Takes the session's row lock (touching updated_at); returns the time stamped."""
        stamp = now()
        result = conn.execute(sessions.update().where(sessions.c.id == session_id)
                              .values(updated_at=stamp))
        if result.rowcount == 0:
            raise SessionNotFound(_not_found(session_id))
        if open_only:
            status = conn.execute(sa.select(sessions.c.status)
                                  .where(sessions.c.id == session_id)).scalar_one()
            if status != "open":
                raise SessionClosed(
                    f"session {session_id!r} is {status}; it takes no more verses or "
                    "participants (start a new session)")
        return stamp

    def _insert_participant(self, conn: Connection, session_id: str, position: int,
                            p: Mapping[str, Any]) -> Participant:
        name = str(p.get("name") or "").strip()
        if not name:
            raise InputError("every participant needs a name")
        kind, model, is_host = p.get("kind"), p.get("model"), bool(p.get("is_host", False))
        new_id = conn.execute(participants.insert().values(
            session_id=session_id, name=name, kind=kind, model=model, is_host=is_host,
            position=position).returning(participants.c.id)).scalar_one()
        return Participant(id=int(new_id), session_id=session_id, name=name, kind=kind,
                           model=model, is_host=is_host, position=position)

    def _check_participant(self, conn: Connection, session_id: str, participant_id: int) -> None:
        found = conn.execute(sa.select(participants.c.id).where(
            participants.c.id == participant_id,
            participants.c.session_id == session_id)).first()
        if found is None:
            raise InputError(f"participant {participant_id} is not at session {session_id!r}")


def _json(values: tuple[str, ...]) -> str:
    return json.dumps(list(values), ensure_ascii=False)


def _seat_message(session_id: str, seat: int, next_seat: int | None) -> str:
    expected = f"the next seat is {next_seat}" if next_seat else "another verse took it first"
    return (f"seat {seat} of session {session_id!r} is not open ({expected}); reload the "
            "session and compose for its next seat")


def _not_found(session_id: str) -> str:
    return f"no renga session {session_id!r}; list the sessions or start a new one"


def _participant(row: Any) -> Participant:
    return Participant(id=row.id, session_id=row.session_id, name=row.name, kind=row.kind,
                       model=row.model, is_host=bool(row.is_host), position=row.position)


def _verse(row: Any) -> SessionVerse:
    return SessionVerse(seat=row.seat, text=row.text, reading=row.reading, kind=row.kind,
                        season=row.season, topics=tuple(json.loads(row.topics)),
                        author=row.author, participant_id=row.participant_id,
                        accepted=tuple(json.loads(row.accepted)), created_at=row.created_at)
