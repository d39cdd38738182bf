import pytest


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny models: one torch thread (see tests/training/conftest.py); restored after the module."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
