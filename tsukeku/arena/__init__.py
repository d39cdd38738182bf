"""The arena: anonymous battles between two models, votes in SQLite, Bradley–Terry ratings."""

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
