"""A per-client sliding-window rate limit for arena votes, kept in memory only.

Client keys (the peer address) live in this process's memory for at most one window and are
never written anywhere; with several server processes each keeps its own window, which is
enough to stop one visitor from flooding the leaderboard by hand or by script.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from tsukeku.errors import ConfigError

ENV_VOTES_PER_MINUTE = "TSUKEKU_ARENA_VOTES_PER_MINUTE"
DEFAULT_VOTES_PER_MINUTE = 20


class RateLimiter:
    """At most `limit` events per `window_s` seconds per key."""

    def __init__(
        self,
        limit: int,
        window_s: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window_s <= 0:
            raise ConfigError("a rate limit needs limit ≥ 1 and a positive window")
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._last_sweep = clock()

    def hit(self, key: str) -> float | None:
        """Counts one event for `key`. Returns None when allowed, else the seconds to wait."""
        now = self._clock()
        with self._lock:
            self._sweep(now)
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.window_s:
                events.popleft()
            if len(events) >= self.limit:
                return max(events[0] + self.window_s - now, 0.001)
            events.append(now)
            return None

    def retry_after_header(self, wait_s: float) -> str:
        return str(max(1, math.ceil(wait_s)))

    def tracked_keys(self) -> int:
        with self._lock:
            return len(self._events)

    def _sweep(self, now: float) -> None:
        # Forget idle clients once a window so memory stays bounded by recent visitors.
        if now - self._last_sweep < self.window_s:
            return
        self._last_sweep = now
        stale = [k for k, ev in self._events.items() if not ev or ev[-1] <= now - self.window_s]
        for k in stale:
            del self._events[k]


def votes_per_minute_from_env() -> int:
    from tsukeku.settings import env

    raw = env().arena_votes_per_minute
    if raw is None:
        return DEFAULT_VOTES_PER_MINUTE
    try:
        value = int(raw)
    except ValueError as err:
        raise ConfigError(f"{ENV_VOTES_PER_MINUTE} must be a whole number, not {raw!r}") from err
    if value < 1:
        raise ConfigError(f"{ENV_VOTES_PER_MINUTE} must be at least 1")
    return value
