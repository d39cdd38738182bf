"""One description of the machine a benchmark ran on, for the `machine` field of every result."""

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe(*, torch: bool = True) -> str:
    parts = [f"{platform.system()} {platform.release()}", cpu_model(), f"{os.cpu_count()} CPUs"]
    try:
        import psutil

        parts.append(f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM")
    except ImportError:
        pass
    if torch:
        import torch as t

        gpu = t.cuda.get_device_name(0) if t.cuda.is_available() else "no GPU"
        parts.append(f"torch {t.__version__} ({t.get_num_threads()} threads), {gpu}")
    parts.append(f"Python {platform.python_version()}")
    return ", ".join(parts)
