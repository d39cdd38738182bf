"""Shared fixtures. Tests never reach the network; ../shared/data is optional (skip with a reason)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("TSUKEKU_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "hyakunin_isshu.json").exists():
        pytest.skip(f"reference data not found at {SHARED_DATA} (set TSUKEKU_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(autouse=True, scope="session")
def _isolated_home(tmp_path_factory):
    """Caches go to a per-session folder unless the caller pinned TSUKEKU_HOME (CI reuses one)."""
    if "TSUKEKU_HOME" not in os.environ:
        os.environ["TSUKEKU_HOME"] = str(tmp_path_factory.mktemp("tsukeku-home"))
    yield


@pytest.fixture(scope="session")
def tiny_base() -> Path:
    """A small offline GPT-NeoX + tokenizer in Hugging Face format (the `test` preset: seconds to
    build), cached under TSUKEKU_HOME for the whole session."""
    from tsukeku.models.tiny import default_base_path

    return default_base_path(preset="test")


@pytest.fixture
def run_benchmark(tmp_path):
    """Runs benchmarks/<script> with `args` and `--out` in tmp_path; checks it exited 0 and wrote
    the benchmark JSON shape (figures, machine, when, notes). Returns (result, stdout)."""

    def run(script: str, *args: str, timeout: int = 900) -> tuple[dict, str]:
        out = tmp_path / "result.json"
        proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / script), *args,
                               "--out", str(out)],
                              capture_output=True, text=True, cwd=tmp_path, timeout=timeout)
        assert proc.returncode == 0, proc.stderr[-3000:]
        result = json.loads(out.read_text(encoding="utf-8"))
        assert {"figures", "machine", "when", "notes"} <= set(result)
        return result, proc.stdout

    return run
