"""The arena routes through the real app: anonymity before the vote, one vote per battle, the
rate limit, the leaderboard and its CSV exports."""

import csv
import io

from fastapi.testclient import TestClient

from tsukeku.arena.ratelimit import RateLimiter
from tsukeku.serving.app import create_app
from tsukeku.serving.settings import ServeSettings

from .conftest import KuShuffleBackend

PREVIOUS = "夕月の 川面に落ちて 砕けけり"


def _battle(client, previous=PREVIOUS):
    r = client.post("/api/arena/battles", json={"previous": previous})
    assert r.status_code == 200, r.text
    return r.json()


def test_battle_is_anonymous_until_the_vote(client, backends, arena_db):
    seen_orders = set()
    for _ in range(12):
        battle = _battle(client)
        body = str(battle)
        assert "alpha" not in body and "beta" not in body  # no names, no model field
        assert [a["label"] for a in battle["answers"]] == ["A", "B"]
        for a in battle["answers"]:
            assert set(a["candidate"]) == {"text", "reading", "ku_morae", "ok", "deviations"}
        stored = arena_db.get_battle(battle["battle_id"])
        seen_orders.add((stored.model_a, stored.model_b))
        # The page's A is the stored model_a's best answer.
        assert battle["answers"][0]["candidate"]["text"] == stored.answer_a["text"]
    # Twelve draws of a random order over two models: both orders appear (p of failing ≈ 5e-4).
    assert seen_orders == {("alpha", "beta"), ("beta", "alpha")}
    # Both models were asked, each for the same 前句.
    assert {r.last for b in backends.values() for r in b.requests} == {PREVIOUS}


def test_vote_reveals_names_and_counts_once(client, arena_db):
    battle = _battle(client)
    stored = arena_db.get_battle(battle["battle_id"])
    r = client.post(f"/api/arena/battles/{battle['battle_id']}/vote", json={"winner": "a"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["winner"] == "a"
    assert [a["model"] for a in out["answers"]] == [stored.model_a, stored.model_b]
    assert all(a["latency_ms"] is not None for a in out["answers"])
    again = client.post(f"/api/arena/battles/{battle['battle_id']}/vote", json={"winner": "b"})
    assert again.status_code == 409 and again.json()["error"]["type"] == "conflict"
    assert arena_db.vote_count() == 1


def test_bad_votes_are_refused(client):
    battle = _battle(client)
    url = f"/api/arena/battles/{battle['battle_id']}/vote"
    assert client.post(url, json={"winner": "c"}).status_code == 422
    assert client.post(url, json={"winner": "a", "ip": "1.2.3.4"}).status_code == 422
    missing = client.post("/api/arena/battles/abc123/vote", json={"winner": "a"})
    assert missing.status_code == 404 and "start a new battle" in missing.json()["error"]["message"]
    assert client.post("/api/arena/battles/not-hex!/vote", json={"winner": "a"}).status_code == 422
    assert client.post("/api/arena/battles", json={"previous": ""}).status_code == 422
    assert client.post("/api/arena/battles", json={"previous": "あ" * 201}).status_code == 422


def test_vote_rate_limit_per_client(backends, arena_db):
    app = create_app(backends, ServeSettings(batch_window_ms=0))
    app.state.arena_store = arena_db
    app.state.arena_limiter = RateLimiter(3, 60.0)
    with TestClient(app) as client:
        battles = [_battle(client) for _ in range(4)]
        codes = []
        for b in battles:
            r = client.post(f"/api/arena/battles/{b['battle_id']}/vote", json={"winner": "tie"})
            codes.append(r.status_code)
        assert codes == [200, 200, 200, 429]
        assert int(r.headers["Retry-After"]) >= 1
        assert r.json()["error"]["type"] == "rate_limited"
        assert arena_db.vote_count() == 3
        # Another client address has its own budget.
        other = TestClient(app, client=("192.0.2.7", 5000))
        ok = other.post(f"/api/arena/battles/{battles[3]['battle_id']}/vote", json={"winner": "b"})
        assert ok.status_code == 200
    # Nothing about the clients reached the database.
    raw = b"".join(p.read_bytes() for p in arena_db.path.parent.glob(arena_db.path.name + "*"))
    assert b"192.0.2.7" not in raw and b"testclient" not in raw


def test_arena_needs_two_models(arena_db):
    app = create_app({"solo": KuShuffleBackend("solo")}, ServeSettings(batch_window_ms=0))
    app.state.arena_store = arena_db
    with TestClient(app) as client:
        r = client.post("/api/arena/battles", json={"previous": PREVIOUS})
        assert r.status_code == 409 and "two" in r.json()["error"]["message"]


def test_leaderboard_changes_with_votes(client):
    empty = client.get("/api/arena/leaderboard").json()
    assert empty["total_votes"] == 0
    assert {r["model"] for r in empty["rows"]} == {"alpha", "beta"}
    assert all(r["rating"] is None for r in empty["rows"])

    # Six ties, then six votes for whoever was A.
    for _ in range(6):
        battle = _battle(client)
        reveal = client.post(
            f"/api/arena/battles/{battle['battle_id']}/vote", json={"winner": "tie"}
        ).json()
        assert reveal["winner"] == "tie"
    for _ in range(6):
        battle = _battle(client)
        reveal = client.post(
            f"/api/arena/battles/{battle['battle_id']}/vote", json={"winner": "a"}
        ).json()
        assert reveal["answers"][0]["model"] in {"alpha", "beta"}
    board = client.get("/api/arena/leaderboard").json()
    assert board["total_votes"] == 12
    rows = {r["model"]: r for r in board["rows"]}
    assert rows["alpha"]["votes"] == rows["beta"]["votes"] == 12
    assert rows["alpha"]["ties"] == 6
    assert rows["alpha"]["wins"] + rows["beta"]["wins"] == 6
    leader = board["rows"][0]
    assert leader["wins"] >= 3 and leader["rating"] >= board["rows"][1]["rating"]
    assert leader["ci_low"] <= leader["rating"] <= leader["ci_high"]
    assert len(board["win_rate"]) == 2 and board["win_rate"][0][0] is None


def test_csv_exports(client):
    for winner in ("a", "b", "both_bad"):
        battle = _battle(client)
        client.post(f"/api/arena/battles/{battle['battle_id']}/vote", json={"winner": winner})
    r = client.get("/api/arena/leaderboard.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {row["model"] for row in rows} == {"alpha", "beta"}
    assert all(int(row["votes"]) == 3 and int(row["both_bad"]) == 1 for row in rows)
    json_rows = {row["model"]: row for row in client.get("/api/arena/leaderboard").json()["rows"]}
    for row in rows:
        assert float(row["rating"]) == json_rows[row["model"]]["rating"]

    votes = list(csv.DictReader(io.StringIO(client.get("/api/arena/votes.csv").text)))
    assert [v["winner"] for v in votes] == ["a", "b", "both_bad"]
    # the first columns as before; the 前句 and both answers after them
    assert list(votes[0])[:5] == ["battle_id", "created_at", "model_a", "model_b", "winner"]
    assert set(votes[0]) - {"battle_id", "created_at", "model_a", "model_b", "winner"} == {
        "previous", "answer_a", "answer_b"}
