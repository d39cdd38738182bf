"""The Ogura Hyakunin Isshu as laid out in `hyakunin_isshu.json` (a JSON array of records with
`id`, `kami` (3 ku, spaced), `shimo` (2 ku), `author`, `kami_kana`, `shimo_kana`). Each poem is
one link 上の句 → 下の句 with its kana readings."""

from __future__ import annotations

import os

from tsukeku.corpus.issues import IssueLog
from tsukeku.corpus.readers.common import (
    SourceData,
    read_json_poems,
    split_halves,
    tanka_link,
)

NAME = "hyakunin"
FILE_NAME = "hyakunin_isshu.json"


def _link(rec: dict, name: str):
    missing = [k for k in ("id", "kami", "shimo", "kami_kana", "shimo_kana") if not rec.get(k)]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    ku = split_halves(str(rec["kami"]), str(rec["shimo"]))
    kana = split_halves(str(rec["kami_kana"]), str(rec["shimo_kana"]), what="reading")
    pid = str(rec["id"])
    return tanka_link(
        ku,
        kana,
        id=f"{name}-{int(pid):03d}" if pid.isdigit() else f"{name}-{pid}",
        group=f"{name}:{pid}",
        source=name,
        author=rec.get("author") or None,
    )


def read_hyakunin(
    path: str | os.PathLike, log: IssueLog | None = None, *, name: str = NAME
) -> SourceData:
    return read_json_poems(path, log, name, lambda rec: _link(rec, name))
