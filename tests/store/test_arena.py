"""The arena's battles and votes on both databases: one vote per battle decided by the database,
concurrent writers through separate store objects (as separate instances are)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from tsukeku.errors import InputError
from tsukeku.store import AlreadyVoted, BattleNotFound, open_store

ANSWER_A = {"text": "風にまかせて 舟の行く末", "reading": "かぜにまかせて ふねのゆくすえ"}
ANSWER_B = {"text": "遠き灯の 揺れて消えゆく", "reading": "とおきひの ゆれてきえゆく"}


def _battle(arena, a="base", b="lora"):
    return arena.create_battle("夕月の 川面に落ちて 砕けけり", a, b, ANSWER_A, ANSWER_B)


def test_round_trip_and_one_vote_per_battle(store):
    arena = store.arena
    battle = _battle(arena)
    assert arena.get_battle(battle.id) == battle
    vote = arena.record_vote(battle.id, "b")
    assert (vote.model_a, vote.model_b, vote.winner) == ("base", "lora", "b")
    with pytest.raises(AlreadyVoted):
        arena.record_vote(battle.id, "a")
    with pytest.raises(BattleNotFound):
        arena.record_vote("nope", "a")
    with pytest.raises(BattleNotFound):
        arena.get_battle("nope")
    with pytest.raises(InputError, match="winner must be one of"):
        arena.record_vote(_battle(arena).id, "c")
    with pytest.raises(InputError):
        arena.create_battle("前句", "same", "same", {}, {})
    assert [v.winner for v in arena.votes()] == ["b"]
    assert arena.vote_count() == 1
    assert len(arena.battles()) == 2


def test_database_refuses_a_second_vote_even_without_the_python_check(store):
    """The UNIQUE constraint, not Python, decides: a raw second INSERT fails too."""
    import sqlalchemy as sa
    from sqlalchemy.exc import IntegrityError

    from tsukeku.store.schema import votes

    battle = _battle(store.arena)
    store.arena.record_vote(battle.id, "a")
    with pytest.raises(IntegrityError), store.db.begin() as conn:
        conn.execute(votes.insert().values(battle_id=battle.id, winner="b", created_at="t"))
    with store.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(votes)).scalar() == 1


def test_concurrent_votes_from_separate_stores(store, db_url):
    battles = [_battle(store.arena, f"m{k % 3}", f"m{k % 3 + 1}") for k in range(60)]
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def voter(chunk):
        try:
            own = open_store(db_url)  # another "instance" on the same database
            start.wait()
            for b in chunk:
                own.arena.record_vote(b.id, "a")
            own.close()
        except BaseException as err:  # noqa: BLE001 - reported by the assert below
            errors.append(err)

    threads = [threading.Thread(target=voter, args=(battles[k::6],)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.arena.vote_count() == 60
    assert len({v.battle_id for v in store.arena.votes()}) == 60


def test_same_battle_voted_by_many_instances_counts_once(store, db_url):
    battle = _battle(store.arena)
    outcomes: list[str] = []
    others = [open_store(db_url) for _ in range(6)]
    start = threading.Barrier(6)

    def voter(own):
        start.wait()
        try:
            own.arena.record_vote(battle.id, "a")
            outcomes.append("ok")
        except AlreadyVoted:
            outcomes.append("dup")

    threads = [threading.Thread(target=voter, args=(o,)) for o in others]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for o in others:
        o.close()
    assert sorted(outcomes) == ["dup"] * 5 + ["ok"]
    assert store.arena.vote_count() == 1


def test_prune_unvoted_keeps_voted_battles(store):
    arena = store.arena
    voted, unvoted = _battle(arena), _battle(arena)
    arena.record_vote(voted.id, "a")
    assert arena.prune_unvoted(timedelta(days=1)) == 0
    assert arena.prune_unvoted(timedelta(seconds=-1)) == 1
    with pytest.raises(BattleNotFound):
        arena.get_battle(unvoted.id)
    assert arena.get_battle(voted.id).id == voted.id


VOTER = """
import sys
from tsukeku.store import open_store
store = open_store(sys.argv[1])
for battle_id in sys.stdin.read().split():
    store.arena.record_vote(battle_id, "a")
    print(battle_id, flush=True)  # acknowledged: what the HTTP route answers 2xx after
"""


def test_sigkill_of_a_writing_process_loses_no_acknowledged_vote(store, db_url):
    """The fast twin of the two-server test (tests/store/test_two_instances.py, slow): a process
    voting as fast as it can is killed with SIGKILL; every vote it acknowledged is stored."""
    import signal
    import subprocess
    import sys

    battles = [_battle(store.arena).id for _ in range(400)]
    proc = subprocess.Popen([sys.executable, "-c", VOTER, db_url], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    proc.stdin.write(" ".join(battles))
    proc.stdin.close()
    acknowledged = []
    for line in proc.stdout:
        acknowledged.append(line.strip())
        if len(acknowledged) == 50:
            proc.send_signal(signal.SIGKILL)
            break
    acknowledged += [line.strip() for line in proc.stdout]  # whatever was already written
    assert proc.wait(10) == -signal.SIGKILL
    stored = {v.battle_id for v in store.arena.votes()}
    assert set(acknowledged) <= stored
    assert len(stored) < len(battles)  # it really was cut off mid-burst
    assert store.arena.vote_count() == len(stored)  # and nothing was counted twice
