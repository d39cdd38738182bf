"""The arena: anonymous battles between two models, Bradley–Terry ratings, a vote rate limit.

Battles and votes are kept by the project's store (`tsukeku.store`: a SQLite file by default,
PostgreSQL when $TSUKEKU_DATABASE_URL names one); `ArenaStore` is its arena part."""

from tsukeku.arena.ratelimit import RateLimiter
from tsukeku.arena.ratings import Leaderboard, Outcome, fit_bradley_terry, leaderboard
from tsukeku.arena.store import WINNERS, AlreadyVoted, ArenaStore, Battle, BattleNotFound, Vote

__all__ = [
    "WINNERS",
    "AlreadyVoted",
    "ArenaStore",
    "Battle",
    "BattleNotFound",
    "Leaderboard",
    "Outcome",
    "RateLimiter",
    "Vote",
    "fit_bradley_terry",
    "leaderboard",
]
