"""`tsukeku train` under `accelerate launch` with two CPU processes (gloo DDP)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]


@pytest.mark.slow
def test_train_under_accelerate_launch_two_processes(tiny_base, bundled_dataset, tmp_path):
    if shutil.which("accelerate", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("accelerate CLI not installed in this environment")
    cmd = [str(Path(sys.executable).parent / "accelerate"), "launch", "--config_file",
           str(REPO / "configs" / "accelerate" / "cpu-2proc.yaml"), "-m", "tsukeku", "train",
           "--base", str(tiny_base), "--data", str(bundled_dataset), "--max-steps", "6",
           "--batch-size", "4", "--save-steps", "3", "--runs-dir", str(tmp_path), "--name", "ddp",
           "--quiet"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    runs = [d for d in tmp_path.iterdir() if d.name.startswith("ddp-")]
    assert len(runs) == 1  # both ranks wrote into the one run dir the main process named
    run = runs[0]
    env = json.loads((run / "environment.json").read_text())
    assert env["device"]["world_size"] == 2
    assert json.loads((run / "run.json").read_text())["status"] == "completed"
    assert (run / "adapter" / "adapter_model.safetensors").exists()
