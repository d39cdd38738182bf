"""Torch's intra-op threads in a server: --torch-threads, then OMP_NUM_THREADS, then one fewer
than the usable cores — checked in a fresh interpreter with the real torch, which reads the
number when first imported."""

from __future__ import annotations

import pytest

from tsukeku.serving.threads import ENV, apply_torch_threads, default_torch_threads, usable_cores

PROBE = ("import json, sys; from tsukeku.serving.threads import apply_torch_threads; "
         "n = apply_torch_threads(None if sys.argv[1] == '-' else int(sys.argv[1])); "
         "import torch; print(json.dumps([n, torch.get_num_threads()]))")


def test_default_leaves_a_core_to_the_rest_of_the_server(fresh_python):
    assert default_torch_threads() == max(1, usable_cores() - 1)
    expected = default_torch_threads()
    assert fresh_python(PROBE, "-", var=ENV) == [expected, expected]


@pytest.mark.skipif(usable_cores() < 2, reason="one core: the default and the operator's agree")
def test_omp_num_threads_set_by_the_operator_stands(fresh_python):
    cores = usable_cores()  # torch takes no more threads than there are cores
    assert fresh_python(PROBE, "-", var=ENV, value=str(cores)) == [cores, cores]


def test_an_explicit_number_wins_over_the_environment(fresh_python):
    assert fresh_python(PROBE, "1", var=ENV, value=str(usable_cores())) == [1, 1]


def test_zero_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        apply_torch_threads(0)
