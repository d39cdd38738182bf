"""Two `tsukeku serve` processes (the tiny base under two names) on two ports sharing one
PostgreSQL: votes through both show up in one leaderboard; a renga session created through one
is played through the other, and an SSE client on the first sees a verse posted through the
second within a second; a seat posted through both at once is taken once (the other 409); and
killing one with SIGKILL in the middle of a burst of votes loses no vote that was answered 2xx.
The servers and the burst are the ones `make bench-store` measures (benchmarks/bench_store.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import bench_store  # noqa: E402

# Two servers with real (tiny) models start in about a minute on 2 cores.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shared_pg(postgres) -> str:
    return postgres.create_database()


@pytest.fixture(scope="module")
def instances(shared_pg, tiny_base, tmp_path_factory):
    servers = bench_store.start_instances(shared_pg, tmp_path_factory.mktemp("instances"))
    yield servers
    for server in servers:
        server.stop()


def test_votes_through_both_instances_make_one_leaderboard(instances, shared_pg):
    a, b = instances
    # One battle composed for real through the first instance, voted through the second.
    battle = httpx.post(f"{a.url}/api/arena/battles", json={"previous": "夕月の 川面に落ちて 砕けけり"},
                        timeout=120)
    assert battle.status_code == 200, battle.text
    vote = httpx.post(f"{b.url}/api/arena/battles/{battle.json()['battle_id']}/vote",
                      json={"winner": "a"}, timeout=30)
    assert vote.status_code == 200, vote.text
    # Then a burst through both.
    seeded = bench_store.seed_battles(shared_pg, 40)
    ok, other, _ = asyncio.run(bench_store.vote_burst([a.url, b.url], seeded, clients=8))
    assert other == {} and sorted(ok) == sorted(seeded)
    boards = [httpx.get(f"{s.url}/api/arena/leaderboard", timeout=60).json() for s in instances]
    assert boards[0]["total_votes"] == boards[1]["total_votes"] == 41
    assert boards[0]["rows"] == boards[1]["rows"]
    # A battle voted through one instance is refused through the other (one vote per battle).
    again = httpx.post(f"{a.url}/api/arena/battles/{seeded[0]}/vote", json={"winner": "b"})
    assert again.status_code == 409


class Screen:
    """An SSE client of one instance, in a thread: every event with the time it arrived."""

    def __init__(self, url: str, session_id: str) -> None:
        self.events: list[tuple[float, dict]] = []
        self.snapshot = threading.Event()
        self.changed = threading.Condition()
        self.stop = False
        self.thread = threading.Thread(target=self._run, args=(url, session_id), daemon=True)
        self.thread.start()

    def _run(self, url: str, session_id: str) -> None:
        with httpx.Client(base_url=url, timeout=60) as http, \
                http.stream("GET", f"/api/sessions/{session_id}/events") as response:
            event: dict = {}
            for line in response.iter_lines():
                if self.stop:
                    return
                if line.startswith(":"):
                    continue
                if line:
                    key, _, value = line.partition(": ")
                    event[key] = json.loads(value) if key == "data" else value
                    continue
                if event:
                    with self.changed:
                        self.events.append((time.monotonic(), event))
                        self.changed.notify_all()
                    if event.get("event") == "snapshot":
                        self.snapshot.set()
                    event = {}

    def verse_arrival(self, seat: int, timeout_s: float = 10.0) -> float:
        """When the event of the verse at `seat` arrived."""
        deadline = time.monotonic() + timeout_s
        with self.changed:
            while True:
                for at, e in self.events:
                    if e.get("event") == "verse" and e["data"]["event"]["seat"] == seat:
                        return at
                left = deadline - time.monotonic()
                assert left > 0, f"no verse event for seat {seat}: {self.events}"
                self.changed.wait(left)


def test_a_session_made_on_one_instance_is_played_on_the_other_live(instances):
    from tests.sessions.conftest import clean_chain

    texts = [v.text for v in clean_chain()]
    a, b = instances
    made = httpx.post(f"{a.url}/api/sessions", timeout=30, json={
        "title": "二つの座敷", "form": "半歌仙",
        "participants": [{"name": "松籟"}, {"name": "杣人"}]})
    assert made.status_code == 201, made.text
    session_id, token = made.json()["session"]["id"], made.json()["join_token"]
    people = {p["name"]: p["id"] for p in made.json()["session"]["participants"]}
    screen = Screen(a.url, session_id)
    try:
        assert screen.snapshot.wait(30)
        delays = []
        for seat, who in ((1, "松籟"), (2, "杣人")):
            posted = httpx.post(f"{b.url}/api/sessions/{session_id}/verses", timeout=30, json={
                "text": texts[seat - 1], "participant_id": people[who], "token": token})
            answered = time.monotonic()
            assert posted.status_code == 201, posted.text
            delays.append(screen.verse_arrival(seat) - answered)
        assert max(delays) < 1.0, delays  # negative: the screen saw it before the poster did
        # The same seat posted through both instances at once: one verse, one 409.
        body = {"text": texts[2], "participant_id": people["松籟"], "token": token, "seat": 3}
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(
                lambda url: httpx.post(f"{url}/api/sessions/{session_id}/verses", json=body,
                                       timeout=30), (a.url, b.url)))
        assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]
        view = httpx.get(f"{a.url}/api/sessions/{session_id}", timeout=30).json()
        assert [v["text"] for v in view["verses"]] == texts[:3]
    finally:
        screen.stop = True


def test_sigkill_in_a_burst_loses_no_acknowledged_vote(instances, shared_pg):
    a, b = instances
    seeded = bench_store.seed_battles(shared_pg, 300)
    killed: list[int] = []

    def progress(done: int) -> None:
        if not killed and done >= 60:
            os.kill(b.proc.pid, signal.SIGKILL)
            killed.append(done)

    ok, other, _ = asyncio.run(bench_store.vote_burst([a.url, b.url], seeded, clients=16,
                                                      on_progress=progress))
    assert killed and b.proc.wait(10) == -signal.SIGKILL
    assert other, "the killed instance answered nothing after the kill"
    assert len(ok) > 60
    stored = bench_store.stored_votes(shared_pg)
    assert set(ok) <= stored  # every 2xx vote is in the database
    # Votes cut off with the process either committed or not; none is counted twice.
    assert httpx.get(f"{a.url}/api/arena/leaderboard", timeout=60).json()["total_votes"] \
        == len(stored)
