"""Arena routes: anonymous battles, votes (rate-limited), the leaderboard and CSV exports.

- `POST /api/arena/battles` `{"previous"}` — two different models drawn at random (in random
  order) answer the same 前句 concurrently; the answers come back as A and B without names.
  The battle → models mapping stays in the arena database.
- `POST /api/arena/battles/{id}/vote` `{"winner": "a"|"b"|"tie"|"both_bad"}` — one vote per
  battle, at most N per client per minute (429 + Retry-After past it); the answer reveals the
  names.
- `GET /api/arena/leaderboard` — Bradley–Terry ratings, bootstrap intervals, counts, win-rate
  matrix (`tsukeku.arena.ratings.leaderboard`).
- `GET /api/arena/leaderboard.csv`, `GET /api/arena/votes.csv` — the same as CSV (votes.csv
  with the 前句 and both answers after the vote's columns).

The database and the vote limiter come as dependencies (`tsukeku.serving.deps`): the app's
lifespan opens them (`app.state.arena_store` when set before start — tests, embedding — else
an ArenaStore at $TSUKEKU_ARENA_DB or under tsukeku.paths.home()).
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import random
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from tsukeku.arena.ratings import Leaderboard, leaderboard
from tsukeku.arena.store import AlreadyVoted, BattleNotFound
from tsukeku.generation.types import Candidate, ComposeRequest, CompositionResult
from tsukeku.serving.deps import ArenaCache, LoadedRegistry, Service, Store, VoteLimiter
from tsukeku.serving.errors import ServiceError
from tsukeku.serving.schemas import Verse

ARENA_CANDIDATES = 3  # each model composes a few and shows its best-ranked one
BOOTSTRAP_ROUNDS = 200
LABELS = ("A", "B")

router = APIRouter(prefix="/api/arena", tags=["arena"])
_rng = random.SystemRandom()


class NotFound(ServiceError):
    status, type = 404, "not_found"


class Conflict(ServiceError):
    status, type = 409, "conflict"


class RateLimited(ServiceError):
    status, type = 429, "rate_limited"


def _client_key(request: Request) -> str:
    # Held in memory for one minute by the limiter, never stored.
    return request.client.host if request.client else "unknown"


# -- battles and votes ---------------------------------------------------------------------


class BattleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    previous: Verse = Field(description="the 前句 both models answer")


class VoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    winner: Literal["a", "b", "tie", "both_bad"]


BattleId = Path(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$")


def _best(result: CompositionResult) -> Candidate:
    if not result.candidates:
        raise ServiceError(f"model {result.model!r} returned no candidate; try another 前句")
    # Highest score first; among equal scores the backend's own order stands.
    return max(result.candidates, key=lambda c: c.score)


def _public(candidate: Candidate) -> dict[str, Any]:
    """What the page may see before the vote: the verse and its form check, nothing that
    identifies the model."""
    return {
        "text": candidate.text,
        "reading": candidate.reading,
        "ku_morae": list(candidate.ku_morae),
        "ok": candidate.ok,
        "deviations": list(candidate.deviations),
    }


@router.post("/battles")
async def create_battle(body: BattleBody, service: Service, registry: LoadedRegistry,
                        store: Store) -> dict[str, Any]:
    names = list(registry.names())
    if len(names) < 2:
        raise Conflict(
            "the arena needs at least two configured models; add another to the models file"
        )
    model_a, model_b = _rng.sample(names, 2)  # a random pair in a random order
    base = ComposeRequest(previous=body.previous, n=ARENA_CANDIDATES)
    result_a, result_b = await asyncio.gather(
        service.compose(model_a, base.model_copy()),
        service.compose(model_b, base.model_copy()),
    )
    picked = [(_public(_best(r)), round(r.latency_ms, 1)) for r in (result_a, result_b)]
    # Latency is stored (and revealed with the names) but not shown before the vote: a slow
    # large model would otherwise give itself away.
    stored = [{**answer, "latency_ms": ms} for answer, ms in picked]
    battle = await run_in_threadpool(
        store.create_battle, body.previous, model_a, model_b, *stored
    )
    return {
        "battle_id": battle.id,
        "previous": battle.previous,
        "answers": [
            {"label": label, "candidate": answer}
            for label, (answer, _) in zip(LABELS, picked, strict=True)
        ],
    }


@router.post("/battles/{battle_id}/vote")
async def vote(body: VoteBody, request: Request, store: Store, limiter: VoteLimiter,
               battle_id: str = BattleId) -> dict[str, Any]:
    wait = limiter.hit(_client_key(request))
    if wait is not None:
        raise RateLimited(
            f"too many votes from this address; wait {limiter.retry_after_header(wait)} s and vote again",
            headers={"Retry-After": limiter.retry_after_header(wait)},
        )
    try:
        recorded = await run_in_threadpool(store.record_vote, battle_id, body.winner)
    except BattleNotFound as err:
        raise NotFound(str(err)) from None
    except AlreadyVoted as err:
        raise Conflict(str(err)) from None
    battle = await run_in_threadpool(store.get_battle, battle_id)
    return {
        "battle_id": battle_id,
        "winner": recorded.winner,
        "answers": [
            {
                "label": "A",
                "model": battle.model_a,
                "latency_ms": battle.answer_a.get("latency_ms"),
            },
            {
                "label": "B",
                "model": battle.model_b,
                "latency_ms": battle.answer_b.get("latency_ms"),
            },
        ],
    }


# -- leaderboard ---------------------------------------------------------------------------


async def _leaderboard(store: Store, registry: LoadedRegistry, cache: ArenaCache) -> Leaderboard:
    """Computed again only when a vote came in or the models changed."""
    models = tuple(registry.names())
    # Votes only ever grow, so the vote count (plus the configured models) identifies the data.
    key = (await run_in_threadpool(store.vote_count), models)
    cached = cache.get("leaderboard")
    if cached is not None and cached[0] == key:
        return cached[1]
    votes = await run_in_threadpool(store.votes)
    board = await run_in_threadpool(
        leaderboard, votes, models, n_bootstrap=BOOTSTRAP_ROUNDS, seed=len(votes)
    )
    cache["leaderboard"] = ((len(votes), models), board)
    return board


@router.get("/leaderboard")
async def get_leaderboard(board: Annotated[Leaderboard, Depends(_leaderboard)]) -> dict[str, Any]:
    return board.to_dict()


def _csv(rows: list[list[Any]], filename: str) -> Response:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


LEADERBOARD_COLUMNS = [
    "rank", "model", "rating", "ci_low", "ci_high", "votes", "wins", "losses", "ties",
    "both_bad", "win_rate",
]  # fmt: skip


@router.get("/leaderboard.csv")
async def leaderboard_csv(board: Annotated[Leaderboard, Depends(_leaderboard)]) -> Response:
    rows: list[list[Any]] = [LEADERBOARD_COLUMNS]
    for row in board.rows:
        values = dataclasses.asdict(row)
        rows.append(["" if values[c] is None else values[c] for c in LEADERBOARD_COLUMNS])
    return _csv(rows, "tsukeku-leaderboard.csv")


# The first five columns are those of the first votes.csv (readers by position keep working);
# the 前句 and both answers follow, so the file is a preference data set by itself.
VOTES_COLUMNS = ["battle_id", "created_at", "model_a", "model_b", "winner",
                 "previous", "answer_a", "answer_b"]


@router.get("/votes.csv")
async def votes_csv(store: Store) -> Response:
    votes = await run_in_threadpool(store.votes)
    battles = {b.id: b for b in await run_in_threadpool(store.battles)}
    rows: list[list[Any]] = [VOTES_COLUMNS]
    for v in votes:
        b = battles.get(v.battle_id)
        texts = [b.previous, b.answer_a.get("text", ""), b.answer_b.get("text", "")] if b else ["", "", ""]
        rows.append([v.battle_id, v.created_at, v.model_a, v.model_b, v.winner, *texts])
    return _csv(rows, "tsukeku-votes.csv")
