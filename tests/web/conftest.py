"""Fixtures of the web tests: the real app (`create_app`) with its ui and arena routers, a temp
arena database, and backends.

`KuShuffleBackend` does small real work for the fast API tests: it answers with the 前句's own
ku rearranged into the other form, so whatever a visitor typed flows back through the model's
answer too (which is what the escaping tests need). The browser test serves real tiny models.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tsukeku.arena.ratelimit import RateLimiter
from tsukeku.arena.store import ArenaStore
from tsukeku.generation.types import Candidate, ComposeRequest, CompositionResult
from tsukeku.serving.app import create_app
from tsukeku.serving.settings import ServeSettings


class KuShuffleBackend:
    """Rotates the last verse's ku by `shift` and takes as many as the other form needs."""

    supports_constraints = False

    def __init__(self, name: str, shift: int = 1) -> None:
        self.name = name
        self.shift = shift
        self.requests: list[ComposeRequest] = []
        self._lock = threading.Lock()

    def compose(self, request: ComposeRequest) -> CompositionResult:
        return self.compose_many([request])[0]

    def compose_many(self, requests: list[ComposeRequest]) -> list[CompositionResult]:
        with self._lock:
            self.requests.extend(requests)
        return [self._one(r) for r in requests]

    def _one(self, request: ComposeRequest) -> CompositionResult:
        ku = request.last.split() or [request.last]
        if request.form == "auto":
            form = "7-7" if len(ku) == 3 else "5-7-5"
        else:
            form = request.form
        width = 2 if form == "7-7" else 3
        candidates = []
        for i in range(request.n):
            start = (self.shift + i) % len(ku)
            parts = ((ku[start:] + ku[:start]) * width)[:width]
            candidates.append(
                Candidate(
                    text=" ".join(parts),
                    reading=" ".join(parts),
                    ku_morae=[len(p) for p in parts],
                    ok=False,
                    deviations=[],
                    score=-float(i),
                )
            )
        return CompositionResult(
            previous=request.previous,
            form=form,
            candidates=candidates,
            model=self.name,
            constrained=False,
            latency_ms=1.0,
        )


@pytest.fixture
def arena_db(tmp_path) -> ArenaStore:
    return ArenaStore(tmp_path / "arena.sqlite3")


@pytest.fixture
def backends() -> dict[str, KuShuffleBackend]:
    return {"alpha": KuShuffleBackend("alpha", 1), "beta": KuShuffleBackend("beta", 2)}


@pytest.fixture
def client(backends, arena_db) -> Iterator[TestClient]:
    app = create_app(backends, ServeSettings(batch_window_ms=0))
    app.state.arena_store = arena_db
    app.state.arena_limiter = RateLimiter(1000, 60.0)
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def booth_models_file(tiny_base, tmp_path_factory) -> tuple[Path, list[str]]:
    """A models file with two real models: the tiny base with the completion prompt, and the
    same weights prompted with the instruction template (one shared copy of the weights)."""
    pytest.importorskip("tsukeku.backends", reason="tsukeku.backends not available yet")
    names = ["base", "base-instruct"]
    path = tmp_path_factory.mktemp("booth") / "models.yaml"
    path.write_text(
        "models:\n"
        f"  base: {{kind: local, base: {json.dumps(str(tiny_base))}}}\n"
        f"  base-instruct: {{kind: local, base: {json.dumps(str(tiny_base))}, template: instruction}}\n",
        encoding="utf-8",
    )
    return path, names


@pytest.fixture(scope="module")
def echo_registry() -> tuple[dict[str, KuShuffleBackend], list[str]]:
    """Two backends that hand the visitor's own ku back as their answers (escaping tests)."""
    backends = {"alpha": KuShuffleBackend("alpha", 1), "beta": KuShuffleBackend("beta", 2)}
    return backends, list(backends)
