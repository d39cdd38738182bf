"""Renga sessions over HTTP: the real app (`create_app`) on the real store (a SQLite file), a
scripted model backend that answers each seat with our own clean 半歌仙's verse, and the SSE
stream through a real server (uvicorn in a thread)."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.sessions.conftest import clean_chain, store_module
from tsukeku.cli import app as cli_app
from tsukeku.generation.types import Candidate, ComposeRequest, CompositionResult
from tsukeku.serving.app import create_app
from tsukeku.serving.settings import ServeSettings

VERSES = clean_chain()
TEXTS = [v.text for v in VERSES]


class ScriptBackend:
    """A backend that answers seat k with verse k of the clean chain."""

    supports_constraints = False

    def __init__(self, name: str) -> None:
        self.name = name
        self.lock = threading.Lock()
        self.calls = 0

    def compose(self, request: ComposeRequest) -> CompositionResult:
        return self.compose_many([request])[0]

    def compose_many(self, requests: list[ComposeRequest]) -> list[CompositionResult]:
        with self.lock:
            self.calls += len(requests)
        out = []
        for r in requests:
            last = r.last
            seat = TEXTS.index(last) + 2 if last in TEXTS and isinstance(r.previous, list) else 1
            cand = Candidate(text=TEXTS[seat - 1], reading="", ku_morae=[], ok=True)
            out.append(CompositionResult(previous=r.previous, form=r.form, candidates=[cand],
                                         model=self.name, constrained=False))
        return out


@pytest.fixture
def app(tmp_path):
    app = create_app({"scribe": ScriptBackend("scribe")}, ServeSettings(batch_window_ms=0))
    app.state.store = store_module.open_store(tmp_path / "store.sqlite3")
    app.state.arena_store = app.state.store.arena
    yield app
    app.state.store.close()


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c


def _create(client, participants=None, **extra):
    people = participants or [{"name": "松籟"}, {"name": "杣人"},
                              {"kind": "model", "model": "scribe"}]
    r = client.post("/api/sessions", json={"title": "試しの座", "form": "半歌仙",
                                           "participants": people, **extra})
    assert r.status_code == 201, r.text
    return r.json()


def _wait_for(client, sid, verses, timeout_s=60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        view = client.get(f"/api/sessions/{sid}").json()
        if len(view["verses"]) >= verses:
            return view
        time.sleep(0.05)
    raise AssertionError(f"session {sid} did not reach {verses} verses: {view}")


def test_create_list_get_and_unknown(client):
    made = _create(client)
    sid = made["session"]["id"]
    assert made["join_token"] and made["host_token"] and made["links"]["join"].endswith(
        made["join_token"])
    view = client.get(f"/api/sessions/{sid}").json()
    assert view["turn"]["name"] == "松籟" and view["next"]["kind"] == "長句"
    assert made["join_token"] not in json.dumps(view)
    assert [s["id"] for s in client.get("/api/sessions?status=open").json()["sessions"]] == [sid]
    missing = client.get("/api/sessions/" + "0" * 32)
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found"
    bad = client.post("/api/sessions", json={"form": "百韻", "participants": [{"name": "a"}]})
    assert bad.status_code == 422 and bad.json()["error"]["type"] == "invalid_request"
    unknown = client.post("/api/sessions", json={
        "participants": [{"kind": "model", "model": "nope"}]})
    assert unknown.status_code == 422 and "scribe" in unknown.json()["error"]["message"]
    path = client.post("/api/sessions", json={"profile": "/etc/passwd",
                                              "participants": [{"name": "a"}]})
    assert path.status_code == 422


def test_turns_rules_host_and_errors(client):
    made = _create(client)
    sid, join, host = made["session"]["id"], made["join_token"], made["host_token"]
    ids = {p["name"]: p["id"] for p in made["session"]["participants"]}
    url = f"/api/sessions/{sid}/verses"
    r = client.post(url, json={"text": TEXTS[0], "participant_id": ids["杣人"], "token": join})
    assert r.status_code == 409 and r.json()["error"]["type"] == "not_your_turn"
    r = client.post(url, json={"text": TEXTS[0], "participant_id": ids["松籟"], "token": "x"})
    assert r.status_code == 403 and r.json()["error"]["type"] == "forbidden"
    r = client.post(url, json={"text": "あ" * 201, "participant_id": ids["松籟"], "token": join})
    assert r.status_code == 422
    r = client.post(url, json={"text": TEXTS[0], "participant_id": ids["松籟"], "token": join,
                               "seat": 1})
    assert r.status_code == 201 and r.json()["verse"]["seat"] == 1
    r = client.post(url, json={"text": TEXTS[1], "participant_id": ids["杣人"], "token": join,
                               "seat": 1})
    assert r.status_code == 409 and r.json()["error"]["type"] == "seat_taken"
    # The 脇 in autumn after a spring 発句: checked while typing, refused when posted.
    wrong = "月の光の 冴えわたる夜に"
    c = client.post(f"/api/sessions/{sid}/check", json={"text": wrong}).json()
    assert "waki_season" in c["errors"] and c["seat"]["seat"] == 2
    assert any(v["name"] == "脇の季" for v in c["violations"])
    odd = client.post(f"/api/sessions/{sid}/check", json={"text": "!!!"}).json()
    assert odd["ok"] is False and odd["message"]
    r = client.post(url, json={"text": wrong, "participant_id": ids["杣人"], "token": join})
    assert r.status_code == 422 and r.json()["error"]["type"] == "rule_broken"
    assert "waki_season" in {v["rule"] for v in r.json()["error"]["violations"]}
    r = client.post(url, json={"text": wrong, "participant_id": ids["杣人"], "token": join,
                               "accept": c["errors"]})
    assert r.status_code == 403
    r = client.post(url, json={"text": wrong, "participant_id": ids["杣人"], "token": host,
                               "accept": c["errors"]})
    assert r.status_code == 201 and "waki_season" in r.json()["verse"]["accepted"]
    # The model's seat (3) composes in the background.
    view = _wait_for(client, sid, 3)
    assert view["verses"][2]["author"] == "scribe"
    assert client.post(f"/api/sessions/{sid}/take-back", json={"token": join}).status_code == 403
    r = client.post(f"/api/sessions/{sid}/take-back", json={"token": host})
    assert r.json() == {"taken_back": 3}
    r = client.post(f"/api/sessions/{sid}/participants", json={"name": "松籟", "token": join})
    assert r.status_code == 409 and r.json()["error"]["type"] == "name_taken"
    r = client.post(f"/api/sessions/{sid}/participants", json={"name": "白萩", "token": join})
    assert r.status_code == 201
    assert client.post(f"/api/sessions/{sid}/end", json={"token": host}).json()[
        "status"] == "ended"
    r = client.post(url, json={"text": TEXTS[2], "participant_id": ids["松籟"], "token": join})
    assert r.status_code == 409 and r.json()["error"]["type"] == "session_closed"


def test_a_whole_hankasen_exports_as_a_clean_chain_and_a_safe_page(client, tmp_path):
    made = _create(client, title="<img src=x onerror=alert(1)>")
    sid, join = made["session"]["id"], made["join_token"]
    for seat in range(1, 19):
        view = _wait_for(client, sid, seat - 1)
        if len(view["verses"]) >= seat:
            continue  # the model took it
        turn = view["turn"]
        if turn["kind"] == "model":
            _wait_for(client, sid, seat)
            continue
        r = client.post(f"/api/sessions/{sid}/verses", json={
            "text": TEXTS[seat - 1], "participant_id": turn["id"], "token": join,
            "seat": seat})
        assert r.status_code == 201, r.text
    view = _wait_for(client, sid, 18)
    assert view["status"] == "finished" and view["next"] is None
    assert {v["author"] for v in view["verses"]} == {"松籟", "杣人", "scribe"}
    jsonl = client.get(f"/api/sessions/{sid}/export.jsonl")
    assert jsonl.status_code == 200
    path = tmp_path / "s.jsonl"
    path.write_text(jsonl.text, encoding="utf-8")
    result = CliRunner().invoke(cli_app, ["renga", "check", "--json", str(path)])
    assert result.exit_code == 0, result.output
    page = client.get(f"/api/sessions/{sid}/export.html")
    assert page.headers["content-type"].startswith("text/html")
    assert "<img src=x" not in page.text and "&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_open_session_limit(app, client):
    from tsukeku.sessions import SessionLimits, SessionService

    store = app.state.store
    app.state.sessions = SessionService(store.sessions, None, events=store.events,
                                        limits=SessionLimits(max_open_sessions=1))
    _create(client, participants=[{"name": "a"}])
    r = client.post("/api/sessions", json={"participants": [{"name": "a"}]})
    assert r.status_code == 429 and r.json()["error"]["type"] == "limit_reached"


def test_events_stream_every_change_to_every_screen(app):
    from tsukeku.serving.server import start_in_thread

    server = start_in_thread(app)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            made = http.post("/api/sessions", json={
                "participants": [{"name": "松籟"}, {"name": "杣人"}]}).json()
            sid, join = made["session"]["id"], made["join_token"]
            ids = {p["name"]: p["id"] for p in made["session"]["participants"]}
            assert http.get(f"/api/sessions/{'0' * 32}/events").status_code == 404
            screens = [_Screen(server.url, sid) for _ in range(2)]
            for s in screens:
                s.ready.wait(10)
            for seat, who in ((1, "松籟"), (2, "杣人")):
                r = http.post(f"/api/sessions/{sid}/verses", json={
                    "text": TEXTS[seat - 1], "participant_id": ids[who], "token": join})
                assert r.status_code == 201
            for s in screens:
                s.done.wait(10)
                s.close()
                kinds = [e["event"] for e in s.events]
                assert kinds[:3] == ["snapshot", "verse", "verse"], kinds
                last = s.events[2]["data"]["session"]
                assert [v["text"] for v in last["verses"]] == TEXTS[:2]
                assert int(s.events[2]["id"]) > int(s.events[1]["id"])
    finally:
        server.stop()


def test_a_second_instance_streams_what_the_first_writes(tmp_path):
    """Two servers on one database (two instances behind a load balancer): a screen on the
    second sees verses posted through the first; a screen that reconnects with Last-Event-ID
    gets what it missed."""
    from tsukeku.serving.server import start_in_thread

    db = tmp_path / "shared.sqlite3"
    apps, servers = [], []
    try:
        for _ in range(2):
            app = create_app({"scribe": ScriptBackend("scribe")}, ServeSettings(batch_window_ms=0))
            app.state.store = store_module.open_store(db)
            app.state.arena_store = app.state.store.arena
            apps.append(app)
            servers.append(start_in_thread(app))
        first, second = (httpx.Client(base_url=s.url, timeout=30) for s in servers)
        made = first.post("/api/sessions", json={
            "participants": [{"name": "松籟"}, {"name": "杣人"}]}).json()
        sid, join = made["session"]["id"], made["join_token"]
        ids = {p["name"]: p["id"] for p in made["session"]["participants"]}
        screen = _Screen(servers[1].url, sid)
        screen.ready.wait(10)
        for seat, who in ((1, "松籟"), (2, "杣人")):
            r = first.post(f"/api/sessions/{sid}/verses", json={
                "text": TEXTS[seat - 1], "participant_id": ids[who], "token": join})
            assert r.status_code == 201
        assert screen.done.wait(10), screen.events
        screen.close()
        assert [e["event"] for e in screen.events] == ["snapshot", "verse", "verse"]
        first_id = screen.events[1]["id"]
        late = _Screen(servers[1].url, sid, headers={"Last-Event-ID": first_id}, count=2)
        assert late.done.wait(10), late.events
        late.close()
        assert [e["event"] for e in late.events] == ["snapshot", "verse"]
        assert late.events[1]["data"]["event"]["seat"] == 2
        first.close()
        second.close()
    finally:
        for server, app in zip(servers, apps, strict=False):
            server.stop()
            app.state.store.close()


class _Screen:
    """One SSE client in a thread, collecting events until it has `count`."""

    def __init__(self, url: str, sid: str, headers: dict | None = None, count: int = 3) -> None:
        self.events: list[dict] = []
        self.count = count
        self.ready, self.done = threading.Event(), threading.Event()
        self.client = httpx.Client(base_url=url, timeout=30, headers=headers)
        self.thread = threading.Thread(target=self._run, args=(sid,), daemon=True)
        self.thread.start()

    def _run(self, sid: str) -> None:
        with self.client.stream("GET", f"/api/sessions/{sid}/events") as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            event: dict = {}
            for line in r.iter_lines():
                if line.startswith(":"):
                    continue
                if not line:
                    if event:
                        self.events.append(event)
                        self.ready.set()
                        event = {}
                        if len(self.events) >= self.count:
                            self.done.set()
                            return
                    continue
                key, _, value = line.partition(": ")
                event[key] = json.loads(value) if key == "data" else value

    def close(self) -> None:
        self.client.close()
