"""Fixtures of the serving tests: a test backend that does its (small) work for real and records
every call, and real uvicorn servers on 127.0.0.1 in a background thread."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from tsukeku.errors import InputError
from tsukeku.generation.types import Candidate, ComposeRequest, CompositionResult
from tsukeku.serving.app import create_app
from tsukeku.serving.server import ServerThread, start_in_thread
from tsukeku.serving.settings import ServeSettings


@pytest.fixture
def fresh_python():
    """Runs `code` (with `args` as sys.argv[1:]) in a new interpreter, the environment variable
    `var` unset or set to `value`, and returns the JSON of its last line of output: for what a
    process decides once, when it starts (torch's threads, glibc's malloc settings)."""

    def run(code: str, *args: str, var: str, value: str | None = None):
        env = {k: v for k, v in os.environ.items() if k != var}
        if value is not None:
            env[var] = value
        out = subprocess.run([sys.executable, "-c", code, *args], env=env, check=True,
                             capture_output=True, text=True, timeout=120)
        return json.loads(out.stdout.strip().splitlines()[-1])

    return run


POISON = "毒"  # a 前句 containing this makes RecordingBackend raise InputError for that request


class RecordingBackend:
    """Answers by rearranging the 前句's own ku (one candidate per rotation), costing
    `overhead_s` per backend call plus `per_request_s` per request — the shape of a batched
    generate call — and records the size of every call."""

    supports_constraints = False

    def __init__(self, name: str = "toy", overhead_s: float = 0.0, per_request_s: float = 0.0,
                 gate: threading.Event | None = None) -> None:
        self.name = name
        self.overhead_s = overhead_s
        self.per_request_s = per_request_s
        self.gate = gate  # when given, every call waits for it (to hold requests in flight)
        self.calls: list[int] = []
        self.lock = threading.Lock()

    def compose(self, request: ComposeRequest) -> CompositionResult:
        return self.compose_many([request])[0]

    def compose_many(self, requests: list[ComposeRequest]) -> list[CompositionResult]:
        with self.lock:
            self.calls.append(len(requests))
        if self.gate is not None:
            self.gate.wait(30)
        time.sleep(self.overhead_s + self.per_request_s * len(requests))
        return [self._one(r) for r in requests]

    def _one(self, request: ComposeRequest) -> CompositionResult:
        if POISON in request.last:
            raise InputError(f"cannot read {request.last!r}")
        ku = request.last.split()
        if not ku:
            raise InputError("empty 前句")
        form = request.form if request.form != "auto" else ("7-7" if len(ku) == 3 else "5-7-5")
        width = 2 if form == "7-7" else 3
        candidates = []
        for i in range(request.n):
            rotated = ku[i % len(ku):] + ku[: i % len(ku)]
            parts = (rotated * width)[:width]
            candidates.append(Candidate(
                text=" ".join(parts), reading=" ".join(parts), ku_morae=[len(p) for p in parts],
                ok=False, score=-float(i),
            ))
        return CompositionResult(previous=request.previous, form=form, candidates=candidates,
                                 model=self.name, constrained=False)


class BrokenBackend(RecordingBackend):
    """Fails with an unexpected error (a bug, not bad input)."""

    def compose_many(self, requests: list[ComposeRequest]) -> list[CompositionResult]:
        raise RuntimeError("boom: a bug in the backend")


PREVIOUS = "霞たつ 野辺の若菜を 摘みに出て"


@pytest.fixture
def backend() -> RecordingBackend:
    return RecordingBackend()


@pytest.fixture
def make_server() -> Iterator[Callable[..., ServerThread]]:
    """make_server(registry, **settings) → a running server; all are stopped at the end."""
    running: list[ServerThread] = []

    def make(registry, **settings) -> ServerThread:
        app = create_app(registry, ServeSettings(**settings))
        server = start_in_thread(app)
        running.append(server)
        return server

    yield make
    for server in running:
        server.stop()


@pytest.fixture
def server(make_server, backend) -> ServerThread:
    return make_server({"toy": backend, "other": RecordingBackend("other")})
