#!/usr/bin/env python3
"""Store benchmark (`make bench-store` → bench/results/store.json).

Two real server processes (`tsukeku serve` on 127.0.0.1, the tiny offline base under two model
names) share one database; everything runs on this machine over loopback.

1. Votes: battles are seeded in the database, then 16 concurrent HTTP clients vote through both
   instances (alternating) — once with the two instances on one SQLite file (WAL), once on one
   PostgreSQL (a throw-away server, fsync on), in this same run. Figures: votes/s of each
   (`votes_per_second_sqlite`, `votes_per_second_postgres`) and their ratio; every 2xx vote is
   checked to be in the database.
2. Kill: a burst of votes through both PostgreSQL instances; one is killed with SIGKILL in the
   middle. `lost_votes_after_kill`: votes answered 2xx that are not in the database (goal 0).
3. Events: a renga session made through one PostgreSQL instance, an SSE client (a screen) on
   it, verses posted through the other: milliseconds from a verse's write to its event on the
   screen (`cross_instance_event_ms_p95`, LISTEN/NOTIFY). Below HTTP, the same at the store
   level: a writer process, EventBus.wait in this one (`store_event_wakeup_ms_p95`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

from bench_serve import Server  # noqa: E402 - `tsukeku serve` in a subprocess

from tsukeku.evaluation.metrics import percentile  # noqa: E402
from tsukeku.io import write_json_atomic  # noqa: E402
from tsukeku.store import open_store  # noqa: E402
from tsukeku.store.pgserver import TempPostgres  # noqa: E402

MODELS = ("base", "base-instruct")
CLIENTS = 16
ANSWER = {"text": "風にまかせて 舟の行く末", "reading": "かぜにまかせて ふねのゆくすえ"}


def models_file(folder: Path) -> Path:
    from tsukeku.models.tiny import default_base_path

    base = json.dumps(str(default_base_path(preset="test")))
    path = folder / "models.yaml"
    path.write_text("models:\n"
                    f"  base: {{kind: local, base: {base}}}\n"
                    f"  base-instruct: {{kind: local, base: {base}, template: instruction}}\n",
                    encoding="utf-8")
    return path


def start_instances(database_url: str, folder: Path, count: int = 2) -> list[Server]:
    """`count` servers on one database; returns once every one answers /ping."""
    env = {**os.environ, "TSUKEKU_ARENA_VOTES_PER_MINUTE": "1000000"}
    env.pop("TSUKEKU_DATABASE_URL", None)
    models = models_file(folder)
    servers = []
    for k in range(count):
        servers.append(Server(["--models", str(models), "--database-url", database_url,
                               "--log-level", "warning", "--max-batch", "1"],
                              folder / f"server{k}.log", env))
    for server in servers:
        server.wait_ready(240)
    return servers


def seed_battles(database_url: str, n: int) -> list[str]:
    """`n` unvoted battles between the served models (written straight to the database: the
    figures are about votes, not about composing)."""
    with open_store(database_url) as store:
        return [store.arena.create_battle("夕月の 川面に落ちて 砕けけり", *MODELS, ANSWER,
                                          ANSWER).id for _ in range(n)]


async def vote_burst(urls: list[str], battle_ids: list[str], clients: int = CLIENTS,
                     *, on_progress=None) -> tuple[list[str], dict[str, int], float]:
    """`clients` closed-loop clients vote once on each battle, alternating between `urls`.
    Returns the ids answered 2xx, a count of the other outcomes, and the wall time."""
    queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
    for k, battle_id in enumerate(battle_ids):
        queue.put_nowait((k, battle_id))
    ok: list[str] = []
    other: dict[str, int] = {}
    limits = httpx.Limits(max_connections=clients * 2)

    async def client(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            k, battle_id = queue.get_nowait()
            url = f"{urls[k % len(urls)]}/api/arena/battles/{battle_id}/vote"
            try:
                response = await http.post(url, json={"winner": "ab"[k % 2]})
                outcome = str(response.status_code)
            except httpx.HTTPError as err:
                outcome = type(err).__name__
            if outcome.startswith("2"):
                ok.append(battle_id)
                if on_progress is not None:
                    on_progress(len(ok))
            else:
                other[outcome] = other.get(outcome, 0) + 1

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    return ok, other, time.perf_counter() - started


def stored_votes(database_url: str) -> set[str]:
    with open_store(database_url) as store:
        return {v.battle_id for v in store.arena.votes()}


def votes_per_second(database_url: str, servers: list[Server], n: int) -> dict:
    battle_ids = seed_battles(database_url, n)
    urls = [s.url for s in servers]
    asyncio.run(vote_burst(urls, seed_battles(database_url, 2 * CLIENTS)))  # warm-up
    ok, other, seconds = asyncio.run(vote_burst(urls, battle_ids))
    missing = set(ok) - stored_votes(database_url)
    return {"votes": len(ok), "seconds": seconds, "votes_per_second": len(ok) / seconds,
            "not_2xx": other, "missing_2xx_votes": len(missing)}


def kill_during_burst(database_url: str, folder: Path, n: int) -> dict:
    """A burst of `n` votes through two instances; the second gets SIGKILL once a third of the
    votes are in. Counts the 2xx votes the database does not have."""
    battle_ids = seed_battles(database_url, n)
    servers = start_instances(database_url, folder)
    victim = servers[1]
    killed_at: list[int] = []

    def progress(done: int) -> None:
        if not killed_at and done >= n // 3:
            os.kill(victim.proc.pid, signal.SIGKILL)
            killed_at.append(done)

    try:
        ok, other, seconds = asyncio.run(
            vote_burst([s.url for s in servers], battle_ids, on_progress=progress))
    finally:
        for s in servers:
            s.stop()
    lost = set(ok) - stored_votes(database_url)
    return {"votes_2xx": len(ok), "killed_after": killed_at[0] if killed_at else None,
            "victim_exit": victim.proc.returncode, "not_2xx": other, "lost": sorted(lost)}


EVENT_WRITER = """
import sys, time
from tsukeku.store import open_store
store = open_store(sys.argv[1])
session_id, n = sys.argv[2], int(sys.argv[3])
for line in sys.stdin:  # one verse per line the reader sends ("go")
    seat = store.sessions.get_session(session_id).next_seat
    store.sessions.add_verse(session_id, seat=seat, text="秋風の 吹きわたりたる 野の果てに",
                             reading=None, kind="長句", season="秋", topics=(), author="機",
                             participant_id=None)
    print(time.time(), flush=True)
    if seat >= n:
        break
"""


def cross_instance_events_store(database_url: str, n: int) -> dict:
    """Store level: another process (an instance's writer) adds a verse; this process's
    EventBus.wait (as an SSE route does) returns it. Milliseconds from the writer's commit to
    the wake-up, same clock."""
    import subprocess

    with open_store(database_url) as store:
        session = store.sessions.create_session(
            title="bench", form="歌仙", profile="歌仙", turn_order="degachi",
            participants=[{"name": "機", "kind": "model", "model": MODELS[0]}])
        store.events.start_listener()
        writer = subprocess.Popen([sys.executable, "-c", EVENT_WRITER, database_url, session.id,
                                   str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, cwd=REPO)
        delays, after = [], 0

        async def one() -> float:
            nonlocal after
            waiting = asyncio.create_task(store.events.wait(session.id, after, 10))
            await asyncio.sleep(0.2)  # parked, as an idle SSE client is
            writer.stdin.write("go\n")
            writer.stdin.flush()
            events = await waiting
            woke = time.time()
            committed = float(await asyncio.to_thread(writer.stdout.readline))
            after = events[-1].id
            return (woke - committed) * 1000

        try:
            for _ in range(n):
                delays.append(asyncio.run(one()))
        finally:
            writer.stdin.close()
            writer.wait(30)
        listening = store.events.listening
    return {"how": "store level: a writer process adds verses, this process's EventBus.wait "
                   f"wakes (LISTEN/NOTIFY {'on' if listening else 'OFF: polling'})",
            "delays_ms": delays, "p50_ms": percentile(delays, 50), "p95_ms": percentile(delays, 95)}


# Our own verses; the host accepts whatever rule they break where they land.
SESSION_VERSES = {"長句": "春の野に 霞たなびく 朝ぼらけ", "短句": "鶯の声 遠く聞こゆる"}


async def cross_instance_events_http(servers: list[Server], n: int) -> dict:
    """A renga session made through the first instance; an SSE client (a screen) on the first;
    verses posted through the second. Milliseconds from the verse's write (its stamp, taken in
    the writing transaction) to its event arriving on the screen (same clock)."""
    a, b = servers[0].url, servers[1].url
    arrivals: asyncio.Queue[tuple[float, dict]] = asyncio.Queue()
    async with httpx.AsyncClient(timeout=30) as http:
        made = (await http.post(f"{a}/api/sessions", json={
            "title": "bench", "form": "歌仙", "turn_order": "degachi",
            "participants": [{"name": "甲"}, {"name": "乙"}]})).raise_for_status().json()
        session_id, host = made["session"]["id"], made["host_token"]
        person = made["session"]["participants"][0]["id"]

        async def screen() -> None:
            async with httpx.AsyncClient(timeout=None) as sse, \
                    sse.stream("GET", f"{a}/api/sessions/{session_id}/events") as response:
                event: dict = {}
                async for line in response.aiter_lines():
                    if line and not line.startswith(":"):
                        key, _, value = line.partition(": ")
                        event[key] = json.loads(value) if key == "data" else value
                    elif not line and event:
                        await arrivals.put((time.time(), event))
                        event = {}

        reader = asyncio.create_task(screen())
        try:
            arrived, first = await asyncio.wait_for(arrivals.get(), 30)
            assert first["event"] == "snapshot", first
            delays = []
            for _ in range(min(n, 35)):
                view = (await http.get(f"{a}/api/sessions/{session_id}")).json()
                seat = len(view["verses"]) + 1
                kind = "長句" if seat % 2 else "短句"
                body = {"text": SESSION_VERSES[kind], "participant_id": person, "token": host}
                answer = await http.post(f"{b}/api/sessions/{session_id}/verses", json=body)
                if answer.status_code == 422:  # the host accepts the rules this one breaks
                    body["accept"] = sorted({v["rule"] for v in
                                             answer.json()["error"].get("violations", [])})
                    answer = await http.post(f"{b}/api/sessions/{session_id}/verses", json=body)
                answer.raise_for_status()
                while True:
                    arrived, event = await asyncio.wait_for(arrivals.get(), 10)
                    if event.get("event") == "verse" and event["data"]["event"]["seat"] == seat:
                        break
                stamp = datetime.fromisoformat(event["data"]["event"]["created_at"])
                delays.append((arrived - stamp.timestamp()) * 1000)
        finally:
            reader.cancel()
    return {"how": "HTTP: a session made through instance 1, an SSE client on instance 1, verses "
                   "posted through instance 2; from the verse's write to its SSE event",
            "delays_ms": delays, "p50_ms": percentile(delays, 50), "p95_ms": percentile(delays, 95)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--votes", type=int, default=1200, help="votes per database")
    parser.add_argument("--kill-votes", type=int, default=900, help="votes in the kill burst")
    parser.add_argument("--events", type=int, default=40, help="cross-instance events timed")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "store.json")
    args = parser.parse_args()

    from machine import describe  # benchmarks/machine.py

    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp, \
            TempPostgres(fsync=True) as pg:
        folder = Path(tmp)
        url = str(folder / "arena.sqlite3")
        servers = start_instances(url, folder)
        try:
            sqlite = votes_per_second(url, servers, args.votes)
        finally:
            for server in servers:
                server.stop()
        print(f"sqlite: {sqlite['votes_per_second']:.0f} votes/s", file=sys.stderr)
        url = pg.create_database()
        servers = start_instances(url, folder)
        try:
            postgres = votes_per_second(url, servers, args.votes)
            print(f"postgres: {postgres['votes_per_second']:.0f} votes/s", file=sys.stderr)
            events = asyncio.run(cross_instance_events_http(servers, args.events))
        finally:
            for server in servers:
                server.stop()
        print(f"events p95: {events['p95_ms']:.0f} ms", file=sys.stderr)
        store_events = cross_instance_events_store(pg.create_database(), args.events)
        kill = kill_during_burst(pg.create_database(), folder, args.kill_votes)
        print(f"kill: {len(kill['lost'])} lost of {kill['votes_2xx']}", file=sys.stderr)

    figures = {
        "votes_per_second_sqlite": round(sqlite["votes_per_second"], 1),
        "votes_per_second_postgres": round(postgres["votes_per_second"], 1),
        "postgres_vs_sqlite_votes_ratio": round(
            postgres["votes_per_second"] / sqlite["votes_per_second"], 3),
        "lost_votes_after_kill": len(kill["lost"]),
        "cross_instance_event_ms_p95": round(events["p95_ms"], 1),
        "cross_instance_event_ms_p50": round(events["p50_ms"], 1),
        "store_event_wakeup_ms_p95": round(store_events["p95_ms"], 1),
    }
    result = {
        "figures": figures,
        "machine": describe(torch=False),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "notes": (
            f"two `tsukeku serve` instances (tiny base as {', '.join(MODELS)}) on one database, "
            f"{CLIENTS} concurrent HTTP clients over loopback alternating between them, "
            f"{args.votes} votes per database on pre-seeded battles (plus a warm-up); SQLite: "
            "one WAL file shared by both processes; PostgreSQL 15 throw-away server, fsync on, "
            f"same machine. Kill: {args.kill_votes} votes, the second instance SIGKILLed after "
            f"{kill['killed_after']} 2xx votes. Events ({len(events['delays_ms'])}): "
            f"{events['how']}; store_event_wakeup: {store_events['how']}. "
            f"2xx votes missing from the database: sqlite {sqlite['missing_2xx_votes']}, "
            f"postgres {postgres['missing_2xx_votes']}."
        ),
        "details": {"sqlite": sqlite, "postgres": postgres, "kill": kill, "events": events,
                    "store_events": store_events},
    }
    write_json_atomic(args.out, result)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    print(f"store: sqlite {figures['votes_per_second_sqlite']} votes/s, postgres "
          f"{figures['votes_per_second_postgres']} votes/s, lost after kill "
          f"{figures['lost_votes_after_kill']}, event p95 "
          f"{figures['cross_instance_event_ms_p95']} ms")


if __name__ == "__main__":
    main()
