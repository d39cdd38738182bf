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


def _record(run: Path) -> dict:
    return json.loads((run / "run.json").read_text())


# what a run is stays as the first process wrote it; what a resume changes is listed here
PER_PROCESS = {"status", "updated", "pid", "resumed_from", "error", "finished", "summary"}


def _same_run_record(before: dict, after: dict, checkpoint: str) -> None:
    assert after["status"] == "completed" and "error" not in after
    assert after["resumed_from"] == [*before["resumed_from"], checkpoint]
    assert {k: v for k, v in after.items() if k not in PER_PROCESS} == \
        {k: v for k, v in before.items() if k not in PER_PROCESS}


def _one_mlflow_run(record: dict, logged_steps: list[int]) -> None:
    """The run's MLflow id names the only run of its experiment, finished, with the metrics of
    both halves."""
    import mlflow

    ids = record["mlflow"]
    client = mlflow.MlflowClient(tracking_uri=ids["tracking_uri"])
    experiment = client.get_experiment_by_name(ids["experiment"])
    runs = client.search_runs([experiment.experiment_id])
    assert [r.info.run_id for r in runs] == [ids["run_id"]]
    assert runs[0].info.status == "FINISHED"
    steps = {m.step for m in client.get_metric_history(ids["run_id"], "loss")}
    assert steps == set(logged_steps)


@pytest.mark.slow  # ~18 s: 120 steps in a killed process and its resume, then 120 more straight
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
    before = _record(run)
    assert before["status"] == "running"  # it really died mid-run
    assert before["mlflow"]["run_id"]
    assert not (run / "adapter").exists()

    from tsukeku.training.runs import list_runs

    # the dead process left status "running"; the listing sees that no such process exists
    assert [r["status"] for r in list_runs(killed_runs)] == ["interrupted"]
    main_rc = subprocess.run([sys.executable, "-m", "tsukeku", "train", "--resume", str(run), "--quiet"],
                             env=env, capture_output=True, text=True, timeout=300)
    assert main_rc.returncode == 0, main_rc.stderr[-2000:]
    info = _record(run)
    assert info["status"] == "completed" and len(info["resumed_from"]) == 1
    checkpoint = info["resumed_from"][0]
    assert int(checkpoint.split("-")[1]) >= int(marker.parent.name.split("-")[1])

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
    # both halves are one run: the same run record and the same MLflow run
    _same_run_record(before, info, checkpoint)
    assert info["mlflow"] == before["mlflow"]
    _one_mlflow_run(info, steps)


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


def test_resume_in_process_after_interrupt(tiny_base, bundled_dataset, tmp_path, mlflow_store):
    """The fast twin of the SIGKILL test: interrupt after a checkpoint, resume, compare."""
    import torch

    common = {"base": str(tiny_base), "data": str(bundled_dataset), "max_steps": 16,
              "batch_size": 4, "save_steps": 4, "logging_steps": 4, "dropout": 0.1, "seed": 3}
    stop = _StopAfter(8)
    with pytest.raises(KeyboardInterrupt):
        train(build_config(None, **common, runs_dir=str(tmp_path / "a"), name="r",
                           tracking_uri=mlflow_store, experiment=f"resume-{tmp_path.name}"),
              quiet=True, callbacks=[stop.callback])
    run = next((tmp_path / "a").glob("r-*"))
    before = _record(run)
    assert before["status"] == "interrupted"
    # the marker is written by the recorder's on_save, which runs before the interrupting callback
    assert (run / "checkpoints" / "checkpoint-8" / CHECKPOINT_DONE).exists()
    resumed = train(resume=run, quiet=True)
    straight = train(build_config(None, **common, runs_dir=str(tmp_path / "b"), mlflow=False),
                     quiet=True)
    a, b = _adapter(resumed.run_dir), _adapter(straight.run_dir)
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6, rtol=1e-5), k
    after = _record(run)
    assert after["resumed_from"] == ["checkpoint-8"]
    _same_run_record(before, after, "checkpoint-8")
    assert after["mlflow"] == before["mlflow"]
    _one_mlflow_run(after, [4, 8, 12, 16])
