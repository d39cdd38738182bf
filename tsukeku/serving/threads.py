"""How many intra-op threads torch gets in a server (`tsukeku serve --torch-threads`).

A server runs Python beside the model's forwards: the event loop (HTTP, JSON), the tokenizer,
the prosody analyser that recounts each ku. With one OpenMP thread per core, an OpenMP thread
waits for the core that Python holds, and every parallel region stalls until it gets it. On
this project's 2-core machine, 1 thread served +20 % requests with continuous batching and
+45 % without batching compared with torch's default of 2 (docs/serving.md). So the default
leaves one core to the rest of the process.
"""

from __future__ import annotations

import os
import sys

ENV = "OMP_NUM_THREADS"


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. a container's cpuset)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_torch_threads() -> int:
    """One thread fewer than the usable cores, at least one."""
    return max(1, usable_cores() - 1)


def apply_torch_threads(requested: int | None) -> int:
    """Sets torch's intra-op threads for this process and returns the number. An explicit
    request wins; else an `OMP_NUM_THREADS` already set (the operator's choice) stands; else the
    default. Torch is usually not imported yet (a server may hold only API backends), so the
    number goes through `OMP_NUM_THREADS`, which torch reads when first imported."""
    if requested is not None and requested < 1:
        raise ValueError("torch threads must be at least 1")
    if requested is None and os.environ.get(ENV, "").strip().isdigit():
        threads = max(1, int(os.environ[ENV]))
    else:
        threads = requested if requested is not None else default_torch_threads()
    os.environ[ENV] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    return threads
