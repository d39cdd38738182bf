"""Kill a real `tsukeku train` process (SIGKILL) after a checkpoint, resume it, and compare its
final adapter with an uninterrupted run of the same config."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tsukeku.training.config import build_config
from tsukeku.training.job import train
from tsukeku.training.tracking import CHECKPOINT_DONE

STEPS, EVERY = 120, 10


def _adapter(run: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(run / "adapter" / "adapter_model.safetensors")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_resume_after_kill_matches_uninterrupted_run(tiny_base, bundled_dataset, tmp_path):
    common = {"base": str(tiny_base), "data": str(bundled_dataset), "max_steps": STEPS,
              "batch_size": 4, "save_steps": EVERY, "logging_steps": EVERY, "dropout": 0.1,
              "seed": 7}
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in common.items()]
    killed_runs = tmp_path / "killed"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "tsukeku", "train", *flags, "--runs-dir",
                             str(killed_runs), "--name", "k", "--quiet"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 180
    marker = None
    try:
        while time.time() < deadline and proc.poll() is None:
            done = [p for p in killed_runs.glob(f"k-*/checkpoints/checkpoint-*/{CHECKPOINT_DONE}")
                    if int(p.parent.name.split("-")[1]) < STEPS]
            if done:
                marker = done[0]
                break
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate()
    assert marker is not None, f"no checkpoint before the end: {err.decode()[-2000:]}"
    run = marker.parents[2]
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "running"  # it really died mid-run
    assert not (run / "adapter").exists()

    from tsukeku.training.runs import list_runs

    # the dead process left status "running"; the listing sees that no such process exists
    assert [r["status"] for r in list_runs(killed_runs)] == ["interrupted"]
    main_rc = subprocess.run([sys.executable, "-m", "tsukeku", "train", "--resume", str(run), "--quiet"],
                             env=env, capture_output=True, text=True, timeout=300)
    assert main_rc.returncode == 0, main_rc.stderr[-2000:]
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "completed" and info["resumed_from"]

    straight = train(build_config(None, **common, runs_dir=str(tmp_path / "straight"), mlflow=False),
                     quiet=True)
    a, b = _adapter(run), _adapter(straight.run_dir)
    assert a.keys() == b.keys()
    import torch

    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6, rtol=1e-5), k
    # the adapter moved away from its initialisation, so the comparison means something
    assert any(t.abs().max() > 1e-3 for k, t in a.items() if "lora_B" in k)
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(EVERY, STEPS + 1, EVERY))  # no duplicated rows after the resume
    # both runs are in the same MLflow run
    mlflow_run = info["mlflow"]["run_id"]
    assert mlflow_run


def test_resume_refuses_a_completed_run(tiny_base, bundled_dataset, tmp_path):
    from tsukeku.errors import ConfigError

    r = train(build_config(None, base=str(tiny_base), data=str(bundled_dataset), max_steps=2,
                           batch_size=4, save_steps=1, runs_dir=str(tmp_path), mlflow=False), quiet=True)
    with pytest.raises(ConfigError, match="already completed"):
        train(resume=r.run_dir, quiet=True)


class _StopAfter:
    """Interrupts training (like Ctrl-C) right after the checkpoint of `step` is complete."""

    def __init__(self, step: int):
        from transformers import TrainerCallback

        outer = self

        class CB(TrainerCallback):
            def on_save(self, args, state, control, **kw):
                if state.global_step == outer.step:
                    raise KeyboardInterrupt

        self.step = step
        self.callback = CB()


def test_resume_in_process_after_interrupt(tiny_base, bundled_dataset, tmp_path):
    """The fast twin of the SIGKILL test: interrupt after a checkpoint, resume, compare."""
    import torch

    common = {"base": str(tiny_base), "data": str(bundled_dataset), "max_steps": 16,
              "batch_size": 4, "save_steps": 4, "logging_steps": 4, "dropout": 0.1, "seed": 3,
              "mlflow": False}
    stop = _StopAfter(8)
    with pytest.raises(KeyboardInterrupt):
        train(build_config(None, **common, runs_dir=str(tmp_path / "a"), name="r"), quiet=True,
              callbacks=[stop.callback])
    run = next((tmp_path / "a").glob("r-*"))
    assert json.loads((run / "run.json").read_text())["status"] == "interrupted"
    # the marker is written by the recorder's on_save, which runs before the interrupting callback
    assert (run / "checkpoints" / "checkpoint-8" / CHECKPOINT_DONE).exists()
    resumed = train(resume=run, quiet=True)
    straight = train(build_config(None, **common, runs_dir=str(tmp_path / "b")), quiet=True)
    a, b = _adapter(resumed.run_dir), _adapter(straight.run_dir)
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6, rtol=1e-5), k
    assert json.loads((run / "run.json").read_text())["resumed_from"] == ["checkpoint-8"]
