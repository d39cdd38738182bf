"""`tsukeku train` as two CPU processes (gloo DDP) started by torchrun — the launcher
`accelerate launch` uses for multi-GPU configs (its MULTI_CPU mode needs mpirun)."""

import json
import os
import subprocess
import sys

import pytest


@pytest.mark.slow  # two processes that each import torch and train: tens of seconds
def test_train_as_two_ddp_processes(tiny_base, bundled_dataset, tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_port", "29533", "-m", "tsukeku", "train",
           "--base", str(tiny_base), "--data", str(bundled_dataset), "--max-steps", "6",
           "--batch-size", "4", "--save-steps", "3", "--runs-dir", str(tmp_path), "--name", "ddp",
           "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    runs = [d for d in tmp_path.iterdir() if d.name.startswith("ddp-")]
    assert len(runs) == 1  # both ranks wrote into the one run dir the main process named
    run = runs[0]
    env = json.loads((run / "environment.json").read_text())
    assert env["device"]["world_size"] == 2
    assert json.loads((run / "run.json").read_text())["status"] == "completed"
    assert (run / "adapter" / "adapter_model.safetensors").exists()
