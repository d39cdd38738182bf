"""The server over the real local backend (LocalHFBackend on the tiny base, from a models file
loaded in the background), with the real boto3 and openai clients; and `tsukeku serve` itself,
started the way the container starts it (deploy/serve), stopped with SIGTERM mid-request."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import httpx
import openai
import pytest

from tests.serving.conftest import PREVIOUS
from tsukeku.serving.app import create_app
from tsukeku.serving.registry import registry_loader, write_models_file
from tsukeku.serving.server import start_in_thread
from tsukeku.serving.settings import ServeSettings

REPO = Path(__file__).resolve().parents[2]


def _wait_ready(url: str, timeout: float = 120, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("server not ready")


@pytest.fixture(scope="module")
def real_server(tiny_base, tmp_path_factory):
    models = write_models_file(tmp_path_factory.mktemp("models") / "models.yaml", "base",
                               base=tiny_base)
    app = create_app(registry_loader(models), ServeSettings(batch_window_ms=30))
    server = start_in_thread(app)
    _wait_ready(server.url)
    yield server
    server.stop()


def test_invocations_with_the_real_model_keep_the_form(real_server):
    r = httpx.post(f"{real_server.url}/invocations",
                   json={"inputs": PREVIOUS, "parameters": {"n": 3, "seed": 7}}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["form"] == "7-7" and body["model"] == "base" and body["constrained"] is True
    assert 1 <= len(body["candidates"]) <= 3
    for cand in body["candidates"]:  # constrained decoding + the independent check
        assert cand["ok"] is True and cand["ku_morae"] == [7, 7]
        assert len(cand["text"].split()) == 2


def test_concurrent_requests_share_generate_calls(real_server):
    def counts() -> tuple[float, float]:
        text = httpx.get(f"{real_server.url}/metrics").text
        get = lambda key: float(next(  # noqa: E731
            line.rsplit(" ", 1)[1] for line in text.splitlines()
            if line.startswith(f'{key}{{model="base"}}')))
        return get("tsukeku_batch_size_sum"), get("tsukeku_batch_size_count")

    before = counts()

    async def burst():
        async with httpx.AsyncClient(base_url=real_server.url, timeout=120) as client:
            return await asyncio.gather(*(
                client.post("/invocations", json={"inputs": PREVIOUS, "parameters": {"n": 2}})
                for _ in range(8)))

    responses = asyncio.run(burst())
    assert all(r.status_code == 200 for r in responses)
    after = counts()
    requests, calls = after[0] - before[0], after[1] - before[1]
    assert requests == 8 and calls < 8, (requests, calls)


def test_openai_and_boto3_clients_on_the_real_model(real_server):
    client = openai.OpenAI(base_url=f"{real_server.url}/v1", api_key="x", max_retries=0)
    chat = client.chat.completions.create(
        model="base", messages=[{"role": "user", "content": PREVIOUS}], n=2)
    assert chat.choices and all(len(c.message.content.split()) == 2 for c in chat.choices)
    runtime = boto3.client("sagemaker-runtime", endpoint_url=real_server.url,
                           region_name="us-east-1", aws_access_key_id="x",
                           aws_secret_access_key="y")
    out = runtime.invoke_endpoint(EndpointName="tsukeku", ContentType="application/json",
                                  Body=json.dumps({"inputs": "袖にかかる 春の淡雪",
                                                   "parameters": {"n": 1}}))
    body = json.loads(out["Body"].read())
    assert body["form"] == "5-7-5" and body["candidates"][0]["ku_morae"] == [5, 7, 5]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_container_entrypoint_serves_the_model_dir_and_drains_on_sigterm(tiny_base, tmp_path):
    # What SageMaker does: unpack model.tar.gz into /opt/ml/model, run `serve`, probe /ping.
    model_dir = tmp_path / "opt-ml-model"
    write_models_file(model_dir / "models.yaml", "tuned", base=tiny_base)
    port = _free_port()
    env = dict(os.environ, TSUKEKU_MODEL_DIR=str(model_dir), SAGEMAKER_BIND_TO_PORT=str(port),
               TSUKEKU_HOST="127.0.0.1", TSUKEKU_MAX_BATCH="4", TSUKEKU_TORCH_THREADS="1",
               PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    proc = subprocess.Popen([str(REPO / "deploy" / "serve")], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc=proc)
        health = httpx.get(f"{url}/health").json()
        assert health["batching"]["max_batch"] == 4 and health["torch_threads"] == 1
        if sys.platform == "linux":  # glibc: the mmap threshold is fixed before models load
            assert health["malloc_mmap_threshold"] == 4 << 20
        # a request in flight when SIGTERM arrives still gets its answer
        slow = {"inputs": PREVIOUS, "parameters": {"n": 16, "model": "tuned"}}

        async def in_flight_then_sigterm():
            async with httpx.AsyncClient(base_url=url, timeout=120) as client:
                task = asyncio.create_task(client.post("/invocations", json=slow))
                while (await client.get("/health")).json()["in_flight"] == 0:
                    await asyncio.sleep(0.005)
                proc.send_signal(signal.SIGTERM)
                return await task

        answer = asyncio.run(in_flight_then_sigterm())
        assert answer.status_code == 200 and answer.json()["model"] == "tuned"
        # uvicorn re-raises the SIGTERM it handled once it has finished, so the exit status
        # reports the signal (143 in a shell); what matters is that it waited for the request.
        assert proc.wait(60) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
    log = proc.stdout.read()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert any(line.get("message") == "draining" for line in lines), log[-2000:]
    assert any(line.get("route") == "/invocations" and line.get("status") == 200
               for line in lines)
