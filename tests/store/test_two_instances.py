"""Two `tsukeku serve` processes (the tiny base under two names) on two ports sharing one
PostgreSQL: votes through both show up in one leaderboard, and killing one with SIGKILL in the
middle of a burst of votes loses no vote that was answered 2xx. The servers and the burst are
the ones `make bench-store` measures (benchmarks/bench_store.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
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
