"""Where tsukeku keeps caches (the tiny base, token-reading tables): $TSUKEKU_HOME or ~/.cache/tsukeku."""

from pathlib import Path


def home() -> Path:
    from tsukeku.settings import env

    root = env().home
    path = root.expanduser() if root is not None else Path.home() / ".cache" / "tsukeku"
    path.mkdir(parents=True, exist_ok=True)
    return path
