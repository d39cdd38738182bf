"""Renga sessions in the store, on both databases: the records, the seat rule, races between
instances decided by the UNIQUE (session, seat) constraint, and an event per change."""

from __future__ import annotations

import threading

import pytest

from tsukeku.errors import InputError
from tsukeku.store import SeatConflict, SessionClosed, SessionNotFound, open_store

PEOPLE = [
    {"name": "宗匠", "kind": "human", "is_host": True},
    {"name": "連衆", "kind": "human"},
    {"name": "機", "kind": "model", "model": "base"},
]
# Verses written for these tests.
VERSES = [
    ("春の野に 霞たなびく 朝ぼらけ", "長句", "春", ("霞",)),
    ("鶯の声 遠く聞こゆる", "短句", "春", ()),
    ("川舟の 棹のしづくに 日は落ちて", "長句", None, ("水辺",)),
]


def _new(store, **kw):
    args = {"title": "試みの座", "form": "半歌仙", "profile": "半歌仙", "turn_order": "rotation",
            "participants": PEOPLE, **kw}
    return store.sessions.create_session(**args)


def _post(store, session, seat, k=None, participant=None):
    text, kind, season, topics = VERSES[(seat - 1 if k is None else k) % len(VERSES)]
    author = participant.name if participant else "宗匠"
    return store.sessions.add_verse(
        session.id, seat=seat, text=text, reading=None, kind=kind, season=season,
        topics=topics, author=author, participant_id=participant.id if participant else None)


def test_create_get_list_count(store):
    s = _new(store)
    assert s.status == "open" and s.next_seat == 1 and s.verses == ()
    assert [p.name for p in s.participants] == ["宗匠", "連衆", "機"]
    assert [p.position for p in s.participants] == [0, 1, 2]
    assert s.participants[0].is_host and not s.participants[1].is_host
    assert s.participants[2].model == "base" and s.participants[2].kind == "model"
    assert s.join_token != s.host_token and len(s.host_token) >= 24
    assert store.sessions.get_session(s.id) == s
    other = _new(store, title="二の座", form="歌仙", turn_order="degachi")
    _post(store, other, 1)
    summaries = store.sessions.list_sessions()
    assert [x.id for x in summaries] == [other.id, s.id]  # most recently changed first
    assert (summaries[0].verses, summaries[1].verses) == (1, 0)
    assert store.sessions.count_sessions() == 2
    store.sessions.set_status(s.id, "ended")
    assert store.sessions.count_sessions() == 1
    assert store.sessions.count_sessions(None) == 2
    assert [x.id for x in store.sessions.list_sessions(status="ended")] == [s.id]
    assert len(store.sessions.list_sessions(limit=1)) == 1
    with pytest.raises(SessionNotFound):
        store.sessions.get_session("nope")
    with pytest.raises(InputError, match="form must be one of"):
        _new(store, form="百韻")
    with pytest.raises(InputError, match="needs a name"):
        _new(store, participants=[{"name": " ", "kind": "human"}])
    assert "host_token" not in s.to_dict() and s.to_dict(tokens=True)["host_token"] == s.host_token


def test_verses_in_seat_order_and_take_back(store):
    s = _new(store)
    host = s.participants[0]
    first = _post(store, s, 1, participant=host)
    assert first.seat == 1 and first.topics == ("霞",) and first.participant_id == host.id
    _post(store, s, 2)
    with pytest.raises(SeatConflict, match="next seat is 3"):
        _post(store, s, 5)
    with pytest.raises(SeatConflict):
        _post(store, s, 2)  # already taken
    got = store.sessions.get_session(s.id)
    assert [v.seat for v in got.verses] == [1, 2] and got.next_seat == 3
    assert got.verses[0] == first
    taken = store.sessions.take_back(s.id)
    assert taken is not None and taken.seat == 2
    assert store.sessions.get_session(s.id).next_seat == 2
    _post(store, s, 2, k=2)  # the seat is open again
    assert store.sessions.get_session(s.id).verses[1].text == VERSES[2][0]
    with pytest.raises(InputError, match="not at session"):
        _post(store, s, 3, participant=_new(store).participants[0])


def test_closed_session_takes_no_verse_or_participant(store):
    s = _new(store)
    store.sessions.set_status(s.id, "finished")
    with pytest.raises(SessionClosed):
        _post(store, s, 1)
    with pytest.raises(SessionClosed):
        store.sessions.add_participant(s.id, "遅参", "human")
    with pytest.raises(InputError):
        store.sessions.set_status(s.id, "paused")


def test_participant_added_at_the_end(store):
    s = _new(store)
    p = store.sessions.add_participant(s.id, "客", "model", model="lora")
    assert (p.position, p.kind, p.model, p.is_host) == (3, "model", "lora", False)
    assert store.sessions.get_session(s.id).participants[-1] == p


def test_every_change_writes_one_event_in_order(store):
    s = _new(store)
    _post(store, s, 1)
    store.sessions.add_participant(s.id, "客", "human")
    _post(store, s, 2)
    store.sessions.take_back(s.id)
    store.sessions.set_status(s.id, "ended")
    events = store.events.since(s.id, 0)
    assert [e.kind for e in events] == ["verse", "participant", "verse", "take_back", "status"]
    assert [e.id for e in events] == sorted(e.id for e in events)
    assert events[0].payload["seat"] == 1 and events[0].payload["text"] == VERSES[0][0]
    assert events[3].payload == {"seat": 2} and events[4].payload == {"status": "ended"}
    assert store.events.since(s.id, events[2].id) == events[3:]
    assert store.events.last_id(s.id) == events[-1].id
    assert store.events.since(_new(store).id, 0) == []
    # A refused change leaves no event behind.
    with pytest.raises(SessionClosed):
        _post(store, s, 2)
    assert len(store.events.since(s.id, 0)) == 5


def test_same_seat_posted_by_many_instances_only_one_wins(store, db_url):
    s = _new(store)
    instances = [open_store(db_url) for _ in range(6)]
    outcomes: list[str] = []
    start = threading.Barrier(len(instances))

    def post(own, k):
        start.wait()
        try:
            _post(own, s, 1, k=k)
            outcomes.append("ok")
        except SeatConflict:
            outcomes.append("409")

    threads = [threading.Thread(target=post, args=(o, k)) for k, o in enumerate(instances)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for o in instances:
        o.close()
    assert sorted(outcomes) == ["409"] * 5 + ["ok"]
    got = store.sessions.get_session(s.id)
    assert len(got.verses) == 1
    assert [e.kind for e in store.events.since(s.id, 0)] == ["verse"]


def test_the_database_refuses_a_second_verse_for_a_seat(store):
    """The UNIQUE constraint, not the Python check, is what a race meets."""
    from sqlalchemy.exc import IntegrityError

    from tsukeku.store.schema import session_verses

    s = _new(store)
    _post(store, s, 1)
    with pytest.raises(IntegrityError), store.db.begin() as conn:
        conn.execute(session_verses.insert().values(
            session_id=s.id, seat=1, text="x", kind="長句", topics="[]", author="a",
            accepted="[]", created_at="t"))
