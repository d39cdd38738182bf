"""Where tsukeku keeps caches (the tiny base, token-reading tables): $TSUKEKU_HOME or ~/.cache/tsukeku."""

import os
from pathlib import Path


def home() -> Path:
    root = os.environ.get("TSUKEKU_HOME")
    path = Path(root).expanduser() if root else Path.home() / ".cache" / "tsukeku"
    path.mkdir(parents=True, exist_ok=True)
    return path
