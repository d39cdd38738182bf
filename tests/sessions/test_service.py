"""The session service on the real store: creating, turns (rotation and 出勝), rules, the host's
actions, limits, models' turns, export, and a restart (the store reopened)."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from tests.sessions.conftest import ScriptedModel, clean_chain, store_module
from tsukeku.cli import app as cli_app
from tsukeku.sessions import SessionLimits, SessionService
from tsukeku.sessions.errors import (
    BadSessionInput,
    Forbidden,
    LimitReached,
    NameTaken,
    NotYourTurn,
    RuleBroken,
    SeatTaken,
    SessionOver,
)
from tsukeku.sessions.export import to_html, to_jsonl

VERSES = clean_chain()
PEOPLE = [{"name": "松籟", "kind": "human"}, {"name": "杣人", "kind": "human"}]


def _svc(store, compose=None, **limits) -> SessionService:
    return SessionService(store.sessions, compose, models=["tiny"],
                          limits=SessionLimits(**limits))


def _ids(record):
    return {p.name: p.id for p in record.participants}


def test_create_seats_people_and_models_and_makes_the_first_person_host(store):
    svc = _svc(store)
    rec = svc.create(title="試し", form="半歌仙",
                     participants=[{"kind": "model", "model": "tiny"}, *PEOPLE])
    assert [(p.name, p.kind, p.is_host) for p in rec.participants] == [
        ("tiny", "model", False), ("松籟", "human", True), ("杣人", "human", False)]
    assert rec.profile == "hankasen" and rec.status == "open"
    assert rec.join_token != rec.host_token
    view = svc.view(rec.id)
    assert view["next"]["kind"] == "長句" and view["turn"]["name"] == "tiny"
    assert "join_token" not in json.dumps(view) and rec.host_token not in json.dumps(view)


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"form": "百韻"}, BadSessionInput),
    ({"turn_order": "random"}, BadSessionInput),
    ({"participants": [{"kind": "model", "model": "gpt-x"}]}, BadSessionInput),
    ({"participants": [{"name": "a"}, {"name": "a"}]}, NameTaken),
    ({"participants": []}, BadSessionInput),
    ({"participants": [{"name": "x" * 41}]}, LimitReached),
    ({"participants": [{"name": f"p{i}"} for i in range(9)]}, LimitReached),
    ({"profile": "kasen"}, BadSessionInput),
])
def test_create_refuses_bad_settings(store, kwargs, error):
    args = {"title": "t", "form": "半歌仙", "participants": PEOPLE, **kwargs}
    with pytest.raises(error):
        _svc(store).create(**args)


def test_open_sessions_are_limited(store):
    svc = _svc(store, max_open_sessions=2)
    first = svc.create(title="a", form="半歌仙", participants=PEOPLE)
    svc.create(title="b", form="半歌仙", participants=PEOPLE)
    with pytest.raises(LimitReached):
        svc.create(title="c", form="半歌仙", participants=PEOPLE)
    svc.end(first.id, first.host_token)
    svc.create(title="c", form="半歌仙", participants=PEOPLE)


def test_rotation_tokens_seats_and_lengths(store):
    svc = _svc(store, max_verse_chars=30)
    rec = svc.create(title="t", form="半歌仙", participants=PEOPLE)
    ids = _ids(rec)
    with pytest.raises(Forbidden):
        svc.post(rec.id, text=VERSES[0].text, participant_id=ids["松籟"], token="nope")
    with pytest.raises(NotYourTurn):
        svc.post(rec.id, text=VERSES[0].text, participant_id=ids["杣人"], token=rec.join_token)
    with pytest.raises(LimitReached):
        svc.post(rec.id, text="あ" * 31, participant_id=ids["松籟"], token=rec.join_token)
    out = svc.post(rec.id, text=VERSES[0].text.replace(" ", "　"), participant_id=ids["松籟"],
                   token=rec.join_token, seat=1)
    assert out["verse"]["text"] == VERSES[0].text  # full-width spaces normalised
    assert out["verse"]["season"] == "春" and out["verse"]["author"] == "松籟"
    with pytest.raises(SeatTaken):  # a screen still composing for seat 1
        svc.post(rec.id, text=VERSES[1].text, participant_id=ids["杣人"],
                 token=rec.join_token, seat=1)
    with pytest.raises(store_module.SeatConflict):  # the store decides a race for the seat
        store.sessions.add_verse(rec.id, seat=1, text="x", reading=None, kind="短句",
                                 season=None, topics=(), author="x", participant_id=None)
    svc.post(rec.id, text=VERSES[1].text, participant_id=ids["杣人"], token=rec.join_token)
    assert svc.view(rec.id)["turn"]["name"] == "松籟"


def test_a_rule_breaking_verse_is_refused_until_the_host_accepts_it(store):
    svc = _svc(store)
    rec = svc.create(title="t", form="半歌仙", participants=PEOPLE)
    ids = _ids(rec)
    svc.post(rec.id, text=VERSES[0].text, participant_id=ids["松籟"], token=rec.join_token)
    # A 脇 in autumn after a spring 発句, and 字足らず in its first ku.
    wrong = "月の光の 冴ゆる"
    checked = svc.check(rec.id, wrong)
    assert {"form", "waki_season"} <= set(checked["errors"])
    named = {v["rule"]: v for v in checked["violations"]}
    assert named["waki_season"]["name"] == "脇の季" and named["form"]["message"]
    with pytest.raises(RuleBroken) as caught:
        svc.post(rec.id, text=wrong, participant_id=ids["杣人"], token=rec.join_token)
    assert {v["rule"] for v in caught.value.violations} >= {"form", "waki_season"}
    with pytest.raises(Forbidden):  # only the host may accept
        svc.post(rec.id, text=wrong, participant_id=ids["杣人"], token=rec.join_token,
                 accept=checked["errors"])
    with pytest.raises(RuleBroken):  # accepting one rule does not accept the other
        svc.post(rec.id, text=wrong, participant_id=ids["杣人"], token=rec.host_token,
                 accept=["form"])
    out = svc.post(rec.id, text=wrong, participant_id=ids["杣人"], token=rec.host_token,
                   accept=checked["errors"])
    assert sorted(out["verse"]["accepted"]) == sorted(checked["errors"])
    view = svc.view(rec.id)
    assert {v["rule"] for v in view["verses"][1]["violations"]} >= {"waki_season"}


def test_host_takes_back_and_ends(store):
    svc = _svc(store)
    rec = svc.create(title="t", form="半歌仙", participants=PEOPLE)
    ids = _ids(rec)
    svc.post(rec.id, text=VERSES[0].text, participant_id=ids["松籟"], token=rec.join_token)
    with pytest.raises(Forbidden):
        svc.take_back(rec.id, rec.join_token)
    assert svc.take_back(rec.id, rec.host_token).seat == 1
    assert svc.view(rec.id)["verses"] == [] and svc.view(rec.id)["turn"]["name"] == "松籟"
    with pytest.raises(Forbidden):
        svc.end(rec.id, rec.join_token)
    svc.end(rec.id, rec.host_token)
    with pytest.raises(SessionOver):
        svc.post(rec.id, text=VERSES[0].text, participant_id=ids["松籟"], token=rec.join_token)
    kinds = [e.kind for e in store.events.since(rec.id, 0)]
    assert kinds == ["verse", "take_back", "status"]


def test_join_and_a_name_already_at_the_table(store):
    svc = _svc(store, max_participants=3)
    rec = svc.create(title="t", form="半歌仙", participants=PEOPLE)
    with pytest.raises(Forbidden):
        svc.join(rec.id, "白萩", "wrong")
    with pytest.raises(NameTaken):
        svc.join(rec.id, "松籟", rec.join_token)
    assert svc.join(rec.id, "白萩", rec.join_token).name == "白萩"
    with pytest.raises(LimitReached):
        svc.join(rec.id, "四人目", rec.join_token)


def test_degachi_lets_anyone_post_and_a_model_compose_when_asked(store, scripted):
    svc = _svc(store, scripted)
    rec = svc.create(title="t", form="半歌仙", turn_order="degachi",
                     participants=[*PEOPLE, {"kind": "model", "model": "tiny"}])
    ids = _ids(rec)
    svc.post(rec.id, text=VERSES[0].text, participant_id=ids["杣人"], token=rec.join_token)
    svc.post(rec.id, text=VERSES[1].text, participant_id=ids["杣人"], token=rec.join_token)
    assert svc.view(rec.id)["turn"] is None
    with pytest.raises(Forbidden):
        asyncio.run(svc.compose_turn(rec.id, ids["tiny"], "wrong"))
    out = asyncio.run(svc.compose_turn(rec.id, ids["tiny"], rec.join_token))
    assert out["verse"]["text"] == VERSES[2].text and out["verse"]["author"] == "tiny"
    model, request = scripted.requests[-1]
    assert model == "tiny" and request.form == "5-7-5"
    assert request.previous == [VERSES[0].text, VERSES[1].text]  # the whole chain
    assert request.seat is not None and request.seat.profile == "hankasen"  # seat-aware


def test_a_model_that_cannot_meet_the_seat_falls_back_to_a_plain_round(store):
    """Seat-aware rounds that return nothing (a small model may never manage the seat) are
    followed by one plain round, so the session does not stall."""
    scripted = ScriptedModel()
    seen = []

    async def seatless(model, request):
        seen.append(request.seat is not None)
        if request.seat is not None:
            return _empty(request, model)
        return await scripted(model, request)

    svc = _svc(store, seatless)
    rec = svc.create(title="t", form="半歌仙",
                     participants=[PEOPLE[0], {"kind": "model", "model": "tiny"}])
    svc.post(rec.id, text=VERSES[0].text, participant_id=_ids(rec)["松籟"],
             token=rec.join_token)
    out = asyncio.run(svc.compose_turn(rec.id))
    assert out["verse"]["text"] == VERSES[1].text
    assert seen == [True] * SessionLimits().model_attempts + [False]


def test_a_whole_hankasen_with_two_people_and_a_model_exports_clean(store, scripted, tmp_path):
    svc = _svc(store, scripted)
    rec = svc.create(title="<script>alert(1)</script>の座", form="半歌仙",
                     participants=[*PEOPLE, {"kind": "model", "model": "tiny", "name": "機"}])
    ids = _ids(rec)

    async def play() -> None:
        for seat in range(1, 19):
            turn = svc.view(rec.id)["turn"]
            if turn["kind"] == "model":
                task = svc.advance(rec.id)
                assert task is not None
                await task
            else:
                svc.post(rec.id, text=VERSES[seat - 1].text, participant_id=turn["id"],
                         token=rec.join_token)
        await svc.close()

    asyncio.run(play())
    view = svc.view(rec.id)
    assert view["status"] == "finished" and len(view["verses"]) == 18
    assert [v["author"] for v in view["verses"][:3]] == ["松籟", "杣人", "機"]
    assert all(v["accepted"] == [] for v in view["verses"])
    record = store.sessions.get_session(rec.id)
    path = tmp_path / "session.jsonl"
    path.write_text(to_jsonl(record), encoding="utf-8")
    result = CliRunner().invoke(cli_app, ["renga", "check", "--json", str(path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["errors"] == 0
    html = to_html(record)
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "writing-mode: vertical-rl" in html
    assert ">表</h2>" in html and ">裏</h2>" in html and "機" in html
    assert record.updated_at[:10] in html
    assert ids  # every participant was seated


def test_nothing_is_lost_when_the_store_is_reopened(tmp_path):
    path = tmp_path / "restart.sqlite3"
    first = store_module.open_store(path)
    svc = _svc(first)
    rec = svc.create(title="t", form="半歌仙", participants=PEOPLE)
    ids = _ids(rec)
    svc.post(rec.id, text=VERSES[0].text, participant_id=ids["松籟"], token=rec.join_token)
    first.close()
    second = store_module.open_store(path)
    try:
        svc = _svc(second)
        view = svc.view(rec.id)
        assert [v["text"] for v in view["verses"]] == [VERSES[0].text]
        svc.post(rec.id, text=VERSES[1].text, participant_id=ids["杣人"], token=rec.join_token)
        assert second.sessions.get_session(rec.id).next_seat == 3
    finally:
        second.close()


def test_a_model_turn_in_rotation_runs_in_the_background(store, scripted):
    svc = _svc(store, scripted)
    rec = svc.create(title="t", form="半歌仙",
                     participants=[PEOPLE[0], {"kind": "model", "model": "tiny"}])
    ids = _ids(rec)

    async def run() -> None:
        svc.post(rec.id, text=VERSES[0].text, participant_id=ids["松籟"], token=rec.join_token)
        task = svc.advance(rec.id)
        assert svc.composing(rec.id) and task is not None
        assert svc.advance(rec.id) is task  # a second look joins the running turn
        await task
        await svc.close()

    asyncio.run(run())
    view = svc.view(rec.id)
    assert [v["author"] for v in view["verses"]] == ["松籟", "tiny"]
    assert view["verses"][1]["text"] == VERSES[1].text  # the broken candidate was passed over
    assert view["turn"]["name"] == "松籟"


def test_a_model_that_gives_nothing_usable_is_reported_and_retried(store):
    calls = []

    async def mute(model, request):
        calls.append(model)
        return _empty(request, model)

    svc = _svc(store, mute, retry_after_s=0)
    rec = svc.create(title="t", form="半歌仙", participants=[{"kind": "model", "model": "tiny"}])

    async def run() -> None:
        task = svc.advance(rec.id)
        assert task is not None
        await task
        await svc.close()

    asyncio.run(run())
    view = svc.view(rec.id)
    assert view["verses"] == [] and "tiny" in view["model_error"]
    assert len(calls) == SessionLimits().model_attempts


def _empty(request, model):
    from tsukeku.generation.types import CompositionResult

    return CompositionResult(previous=request.previous, form=request.form, candidates=[],
                             model=model, constrained=False)


def test_a_kasen_page_has_its_four_sections(store):
    svc = _svc(store)
    rec = svc.create(title="歌仙", form="歌仙", participants=PEOPLE)
    ids = _ids(rec)
    for seat, who in ((1, "松籟"), (2, "杣人")):
        svc.post(rec.id, text=VERSES[seat - 1].text, participant_id=ids[who],
                 token=rec.join_token)
    html = to_html(store.sessions.get_session(rec.id))
    for name in ("初折表", "初折裏", "名残表", "名残裏"):
        assert f">{name}</h2>" in html
    assert "未完" in html  # an unfinished session says so
