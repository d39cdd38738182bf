"""Torch's intra-op threads in a server: --torch-threads, then OMP_NUM_THREADS, then one fewer
than the usable cores — checked in a fresh interpreter with the real torch, which reads the
number when first imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tsukeku.serving.threads import apply_torch_threads, default_torch_threads, usable_cores

PROBE = ("import json, sys; from tsukeku.serving.threads import apply_torch_threads; "
         "n = apply_torch_threads(None if sys.argv[1] == '-' else int(sys.argv[1])); "
         "import torch; print(json.dumps([n, torch.get_num_threads()]))")


def _probe(requested: str, omp: str | None) -> list[int]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if omp is not None:
        env["OMP_NUM_THREADS"] = omp
    out = subprocess.run([sys.executable, "-c", PROBE, requested], env=env, check=True,
                         capture_output=True, text=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_default_leaves_a_core_to_the_rest_of_the_server():
    assert default_torch_threads() == max(1, usable_cores() - 1)
    expected = default_torch_threads()
    assert _probe("-", None) == [expected, expected]


@pytest.mark.skipif(usable_cores() < 2, reason="one core: the default and the operator's agree")
def test_omp_num_threads_set_by_the_operator_stands():
    cores = usable_cores()  # torch takes no more threads than there are cores
    assert _probe("-", str(cores)) == [cores, cores]


def test_an_explicit_number_wins_over_the_environment():
    assert _probe("1", str(usable_cores())) == [1, 1]


def test_zero_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        apply_torch_threads(0)
