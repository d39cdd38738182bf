"""Local stand-ins for remote model services: small FastAPI apps on 127.0.0.1 (uvicorn in a
thread) that answer what the test chose and record what our clients sent, so that the real
`openai` and `boto3` clients are exercised end to end without the network."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

# Verses written for these tests.
SHORT_OK = "川の流れに 月の影ゆれ"  # 7-7
SHORT_OK_2 = "軒端に揺るる 露の白玉"  # 7-7
LONG_OK = "朝霧に 山の端白く 明けそめて"  # 5-7-5
LONG_PREVIOUS = "夕立の 過ぎて涼しき 軒の風"  # a 長句: 付句 7-7
SHORT_PREVIOUS = SHORT_OK  # a 短句: 付句 5-7-5
BROKEN = "こわれた かたち"  # 4-3


@contextlib.contextmanager
def serve(app) -> Iterator[str]:
    """Runs `app` on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the local test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class Recorder:
    """What the fake service received, and what it will answer next."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: list[Any] = []
        self.status: int = 200
        self.max_choices: int | None = None  # a server that ignores n (Ollama)

    def next_texts(self, n: int) -> list[str]:
        n = min(n, self.max_choices or n)
        out = [self.answers[(len(self.requests) + i) % len(self.answers)] for i in range(n)]
        return out


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    """Dummy credentials and no user AWS config: boto3 signs requests to our local server."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
