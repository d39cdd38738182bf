"""The in-memory per-client vote limit."""

import threading

import pytest

from tsukeku.arena.ratelimit import RateLimiter, votes_per_minute_from_env
from tsukeku.errors import ConfigError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limit_per_key_and_window_slides():
    clock = Clock()
    limiter = RateLimiter(3, 60.0, clock=clock)
    assert [limiter.hit("10.0.0.1") for _ in range(3)] == [None, None, None]
    wait = limiter.hit("10.0.0.1")
    assert wait == pytest.approx(60.0)
    assert limiter.retry_after_header(wait) == "60"
    assert limiter.hit("10.0.0.2") is None  # another client is not affected
    clock.now += 30
    assert limiter.hit("10.0.0.1") == pytest.approx(30.0)  # refused hits don't count
    clock.now += 30.5
    assert limiter.hit("10.0.0.1") is None  # the oldest event left the window


def test_idle_clients_are_forgotten():
    clock = Clock()
    limiter = RateLimiter(2, 10.0, clock=clock)
    for k in range(50):
        limiter.hit(f"client-{k}")
    assert limiter.tracked_keys() == 50
    clock.now += 11
    limiter.hit("someone")
    assert limiter.tracked_keys() == 1


def test_threads_never_exceed_the_limit():
    limiter = RateLimiter(25, 60.0)
    allowed = []
    start = threading.Barrier(8)

    def worker():
        start.wait()
        for _ in range(10):
            if limiter.hit("same") is None:
                allowed.append(1)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(allowed) == 25


def test_config_from_env(monkeypatch):
    monkeypatch.delenv("TSUKEKU_ARENA_VOTES_PER_MINUTE", raising=False)
    assert votes_per_minute_from_env() == 20
    monkeypatch.setenv("TSUKEKU_ARENA_VOTES_PER_MINUTE", "5")
    assert votes_per_minute_from_env() == 5
    monkeypatch.setenv("TSUKEKU_ARENA_VOTES_PER_MINUTE", "many")
    with pytest.raises(ConfigError, match="whole number"):
        votes_per_minute_from_env()
    with pytest.raises(ConfigError):
        RateLimiter(0)
