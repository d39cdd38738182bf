"""Our own verses with hand-given seasons (data/season_verses.tsv), split once and for all into a
development part (the classifier may be tuned on it) and a held-out part (never tuned on): the
split is by a hash of the verse text, so it never changes when verses are added."""

from __future__ import annotations

import hashlib
from pathlib import Path

PATH = Path(__file__).with_name("data") / "season_verses.tsv"


def split_of(text: str) -> str:
    return "heldout" if int(hashlib.sha256(text.encode()).hexdigest(), 16) % 2 else "dev"


def season_verses(split: str | None = None) -> list[tuple[str, str]]:
    """(season, text) pairs of one split (`dev`, `heldout`) or all."""
    rows = []
    header = False
    for line in PATH.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        season, text = line.split("\t")
        if not header:
            header = True
            continue
        if split is None or split_of(text) == split:
            rows.append((season, text))
    return rows
