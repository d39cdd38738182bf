"""`make demo`'s steps at a reduced size: tiny base (test preset), data, LoRA, eval, serve."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

# `tsukeku demo` in subprocesses: builds data, trains LoRA and OFT, evaluates, serves (~1 minute
# on 2 cores, most of it in the module's fixture). Its steps have fast tests of their own.
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _demo(workdir, *extra, **kw):
    cmd = [sys.executable, "-m", "tsukeku", "demo", "--workdir", str(workdir), "--preset", "test",
           "--max-steps", "4", "--eval-limit", "2", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)


@pytest.fixture(scope="module")
def demo_dir(tiny_base, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo")
    proc = _demo(workdir, "--no-serve")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return workdir, proc


def test_demo_builds_every_step(demo_dir):
    workdir, proc = demo_dir
    assert json.loads((workdir / "data" / "stats.json").read_text())["total_links"] >= 400
    runs = [json.loads((d / "run.json").read_text()) for d in (workdir / "runs").iterdir()
            if (d / "run.json").is_file()]
    assert sorted(r["method"] for r in runs) == ["lora", "oft"]
    assert {r["status"] for r in runs} == {"completed"}
    assert len({r["total_steps"] for r in runs}) == 1  # the same budget for both methods
    report = json.loads((workdir / "report" / "report.json").read_text())
    assert set(report["models"]) == {"tuned", "oft", "base"}
    assert report["runs"]["tuned"]["method"] == "lora" and report["runs"]["oft"]["method"] == "oft"
    assert "Methods compared" in (workdir / "report" / "report.md").read_text()
    assert "report.html" in proc.stdout and "curl" in proc.stdout


def test_second_run_skips_what_exists(demo_dir):
    workdir, _ = demo_dir
    before = (workdir / "report" / "report.json").stat().st_mtime_ns
    proc = _demo(workdir, "--no-serve")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("skipped") == 4  # dataset, LoRA, OFT, evaluation
    assert (workdir / "report" / "report.json").stat().st_mtime_ns == before


def test_demo_serves_the_tuned_model(demo_dir):
    workdir, _ = demo_dir
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tsukeku", "demo", "--workdir", str(workdir), "--preset", "test",
         "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, server.stderr.read()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.5)
        body = json.dumps({"inputs": "秋風の 吹きわたる野の 夕まぐれ", "parameters": {"n": 2}})
        req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body.encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            answer = json.loads(r.read())
        assert answer["model"] == "tuned" and answer["form"] == "7-7"
        assert answer["candidates"] and all(c["ok"] for c in answer["candidates"])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert "付句" in r.read().decode("utf-8")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
