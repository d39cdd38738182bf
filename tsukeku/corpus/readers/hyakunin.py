"""The Ogura Hyakunin Isshu as laid out in `hyakunin_isshu.json` (a JSON array of records with
`id`, `kami` (3 ku, spaced), `shimo` (2 ku), `author`, `kami_kana`, `shimo_kana`). Each poem is
one link 上の句 → 下の句 with its kana readings."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import ValidationError

from tsukeku.corpus.issues import IssueLog
from tsukeku.corpus.model import explain
from tsukeku.corpus.readers.common import (
    SourceData,
    iter_json_array,
    read_text,
    split_halves,
    tanka_link,
)
from tsukeku.errors import InputError

NAME = "hyakunin"
FILE_NAME = "hyakunin_isshu.json"


def read_hyakunin(
    path: str | os.PathLike, log: IssueLog | None = None, *, name: str = NAME
) -> SourceData:
    log = log if log is not None else IssueLog()
    path = Path(path)
    data = SourceData(name=name, path=str(path))

    def bad(line: int | None, reason: str) -> None:
        log.bad(path, line, reason)
        data.bad_records += 1

    try:
        for line, rec in iter_json_array(read_text(path)):
            try:
                if not isinstance(rec, dict):
                    raise ValueError(f"expected an object per poem, got {type(rec).__name__}")
                missing = [
                    k for k in ("id", "kami", "shimo", "kami_kana", "shimo_kana") if not rec.get(k)
                ]
                if missing:
                    raise ValueError(f"missing {', '.join(missing)}")
                ku = split_halves(str(rec["kami"]), str(rec["shimo"]))
                kana = split_halves(str(rec["kami_kana"]), str(rec["shimo_kana"]), what="reading")
                pid = str(rec["id"])
                link = tanka_link(
                    ku,
                    kana,
                    id=f"{name}-{int(pid):03d}" if pid.isdigit() else f"{name}-{pid}",
                    group=f"{name}:{pid}",
                    source=name,
                    author=rec.get("author") or None,
                )
            except ValidationError as err:
                bad(line, f"invalid poem: {explain(err)}")
                continue
            except (ValueError, InputError) as err:
                bad(line, str(err))
                continue
            data.links.append(link)
    except json.JSONDecodeError as err:
        bad(err.lineno, f"not a JSON array of poems ({err.msg}); the rest of the file is skipped")
    return data
