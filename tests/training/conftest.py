"""Training fixtures: the bundled dataset as `tsukeku data build` writes it, a small fixture
dataset of our own verses, and a fast training config on the `tiny_base` test preset."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training import fixture_data


@pytest.fixture(scope="session")
def bundled_dataset(tmp_path_factory) -> Path:
    """`tsukeku data build --source bundled` with its defaults (the split the tiny base holds out)."""
    from tsukeku.corpus.build import build_dataset

    out = tmp_path_factory.mktemp("bundled-dataset")
    build_dataset(("bundled",), out, seed=0)
    return out


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory) -> Path:
    return fixture_data.write_dataset(tmp_path_factory.mktemp("small-dataset"))


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory) -> str:
    """One MLflow tracking store (sqlite) for the session: creating one runs MLflow's schema
    migrations, seconds each time. Tests that share it use an experiment of their own."""
    from tsukeku.training.tracking import default_tracking_uri

    return default_tracking_uri(tmp_path_factory.mktemp("mlflow"))


@pytest.fixture
def fast(tiny_base, bundled_dataset, tmp_path):
    """Keyword arguments of a run that takes a few seconds on 2 cores."""
    return {
        "base": str(tiny_base),
        "data": str(bundled_dataset),
        "max_steps": 6,
        "batch_size": 8,
        "logging_steps": 2,
        "save_steps": 3,
        "runs_dir": str(tmp_path / "runs"),
    }


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """The test models are tiny: a second OpenMP thread buys nothing and, on a CPU shared with
    other jobs, spinning threads make runs many times slower. Restored after each module."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
