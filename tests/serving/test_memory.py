"""glibc's mmap threshold in a server: fixed, a freed large block no longer lets the next
blocks of that size come from the heap (where they fragment it). Checked with glibc's own
counters in a fresh interpreter, against the dynamic threshold in the same kind of run."""

from __future__ import annotations

import pytest

from tsukeku.serving.memory import ENV

PROBE = r"""
import ctypes, ctypes.util, json, sys
from tsukeku.serving.memory import fix_mmap_threshold
libc = ctypes.CDLL(ctypes.util.find_library("c"))
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
fixed = fix_mmap_threshold() if sys.argv[1] == "fix" else None
libc.free(libc.malloc(16 << 20))  # freeing a mapped 16 MiB block raises a dynamic threshold
before = libc.mallinfo2().hblks
block = libc.malloc(6 << 20)
mapped = libc.mallinfo2().hblks - before
libc.free(block)
print(json.dumps([fixed, mapped]))
"""


def _glibc_with_mallinfo2() -> bool:
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        return hasattr(libc, "gnu_get_libc_version") and hasattr(libc, "mallinfo2")
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _glibc_with_mallinfo2(),
                                reason="glibc ≥ 2.33 (mallinfo2) is what this checks")


def test_fixed_threshold_keeps_large_blocks_out_of_the_heap(fresh_python):
    # glibc's default: the 6 MiB block came from the heap
    assert fresh_python(PROBE, "dynamic", var=ENV) == [None, 0]
    assert fresh_python(PROBE, "fix", var=ENV) == [4 << 20, 1]  # fixed at 4 MiB: its own mapping


def test_an_operators_setting_stands(fresh_python):
    assert fresh_python(PROBE, "fix", var=ENV, value=str(8 << 20)) == [8 << 20, 0]
