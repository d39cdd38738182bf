"""The C allocator's setting for a long-running server (`tsukeku serve`).

glibc's malloc serves a block above its mmap threshold with its own mapping, returned to the
system when freed — but each time such a block is freed, it raises the threshold to that block's
size (up to 32 MiB). After the first few hundred steps, blocks of several MiB come from the
heap instead, the heap fragments, and RSS creeps up with traffic while nothing is leaked.
Measured in-process on the tiny base with continuous batching, 16 clients for 90 s (≈ 5,000
requests): RSS 1,136 → 1,562 MiB with the dynamic threshold; 916 → 1,056 MiB fixed at 1 MiB,
929 → 1,063 at 4 MiB, 1,157 → 1,461 at 8 MiB. Below 4 MiB the fixed-window mode's growing KV
cache (a new block per step) pays a mapping per step: 23 req/s at 1 MiB against 30 at 4 MiB
(docs/serving.md). Fixing the threshold is the remedy glibc documents (mallopt
M_MMAP_THRESHOLD, also the MALLOC_MMAP_THRESHOLD_ variable).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

log = logging.getLogger("tsukeku.serving.memory")

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
MMAP_THRESHOLD = 4 << 20  # blocks of 4 MiB and more get their own mapping
ENV = "MALLOC_MMAP_THRESHOLD_"  # the operator's own setting, read by glibc at start
applied: int | None = None  # what `fix_mmap_threshold` left in force (/health shows it)


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD) -> int | None:
    """Fixes glibc's mmap threshold for this process (which also stops its dynamic growth);
    returns the threshold in force, or None where the C library is not glibc. An operator's
    `MALLOC_MMAP_THRESHOLD_` stands (glibc applied it at start)."""
    global applied
    if os.environ.get(ENV, "").strip().isdigit():
        applied = int(os.environ[ENV])
        return applied
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
        # gnu_get_libc_version exists only in glibc: mallopt's parameters are glibc's
        libc.gnu_get_libc_version  # noqa: B018
    except (OSError, AttributeError, TypeError):
        return None
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    if mallopt(M_MMAP_THRESHOLD, threshold) != 1:
        log.warning("mallopt(M_MMAP_THRESHOLD, %d) was refused", threshold)
        return None
    applied = threshold
    return threshold
