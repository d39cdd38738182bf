"""What a run ran on: package versions, the git commit of the code, the device."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from tsukeku.settings import env

PACKAGES = ("tsukeku", "torch", "transformers", "peft", "accelerate", "tokenizers",
            "safetensors", "mlflow", "mlflow-skinny", "bitsandbytes", "deepspeed", "numpy")


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def git_state(start: Path | None = None) -> dict[str, Any]:
    """The commit of the checkout holding this code (None outside a git checkout)."""
    where = start or Path(__file__).resolve().parent

    def git(*args: str) -> str | None:
        try:
            r = subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return r.stdout.strip() if r.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None}
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(dirty), "branch": git("rev-parse", "--abbrev-ref", "HEAD")}


def device_info() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "world_size": env().world_size,
    }
    if torch.cuda.is_available():
        info.update(type="cuda", count=torch.cuda.device_count(),
                    name=torch.cuda.get_device_name(0), cuda=torch.version.cuda,
                    bf16=torch.cuda.is_bf16_supported())
    else:
        info.update(type="cpu", name=platform.processor() or platform.machine())
    return info


def environment() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "hostname": platform.node(),
        "packages": package_versions(),
        "git": git_state(),
        "device": device_info(),
        "argv": sys.argv,
    }
