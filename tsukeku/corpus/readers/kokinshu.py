"""古今和歌集 as laid out in `kokinshu_vol1-7.json` (records with `anthology`, `volume`,
`number`, `author`, `ku`, `kotobagaki`).

`ku` holds five strings, or one string with the whole unspaced poem, which is split with
`tsukeku.prosody.split_ku(text, "5-7-5-7-7")`. Inline ruby (`一年〈ひととせ〉を`) is taken out of the
text and used for the reading: the ruby replaces its base before the reading is analysed, and the
split is made on that text and mapped back onto the plain text. Season and topics come from the
volume (巻一–二 春, 巻三 夏, 巻四–五 秋, 巻六 冬, 巻十一–十五 恋, …).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tsukeku.corpus.issues import IssueLog
from tsukeku.corpus.model import explain
from tsukeku.corpus.readers import ruby
from tsukeku.corpus.readers.common import (
    TANKA_FORM,
    SourceData,
    iter_json_array,
    normalise_space,
    read_text,
    tanka_link,
)

NAME = "kokinshu"
FILE_NAME = "kokinshu_vol1-7.json"
KU_MORAE = (5, 7, 5, 7, 7)

# 古今和歌集's twenty volumes: (season, topics) of the poems in each.
VOLUMES: dict[int, tuple[str, tuple[str, ...]]] = {
    1: ("春", ()), 2: ("春", ()), 3: ("夏", ()), 4: ("秋", ()), 5: ("秋", ()), 6: ("冬", ()),
    7: ("雑", ("賀",)), 8: ("雑", ("離別",)), 9: ("雑", ("旅",)), 10: ("雑", ("物名",)),
    11: ("雑", ("恋",)), 12: ("雑", ("恋",)), 13: ("雑", ("恋",)), 14: ("雑", ("恋",)),
    15: ("雑", ("恋",)), 16: ("雑", ("哀傷",)), 17: ("雑", ()), 18: ("雑", ()),
    19: ("雑", ()), 20: ("雑", ()),
}  # fmt: skip


def _reading(hint_ku: str, morae: int) -> str:
    from tsukeku.prosody import reading

    return reading(hint_ku, expected=morae).replace(" ", "")


def _ku_and_readings(raw_ku: list[str]) -> tuple[list[str], list[str]]:
    parts = [
        normalise_space(k).replace(" ", "") for k in raw_ku if isinstance(k, str) and k.strip()
    ]
    if len(parts) == 5:
        segs = [ruby.parse(p) for p in parts]
        ku = [ruby.surface(s) for s in segs]
        hints = [ruby.hint(s) for s in segs]
    elif len(parts) == 1:
        from tsukeku.prosody import split_ku

        segs = ruby.parse(parts[0])
        whole_hint = ruby.hint(segs)
        hint_ku = [k.strip() for k in split_ku(whole_hint, TANKA_FORM)]
        if "".join(hint_ku).replace(" ", "") != whole_hint or len(hint_ku) != 5:
            raise ValueError(f"could not split {parts[0]!r} into {TANKA_FORM}")
        cuts, pos = [], 0
        for k in hint_ku[:-1]:
            pos += len(k)
            cuts.append(pos)
        pieces = ruby.cut(segs, cuts)
        if len(pieces) != 5:
            raise ValueError(f"could not split {parts[0]!r} into {TANKA_FORM} (ruby in the way)")
        ku = [p[0] for p in pieces]
        hints = [p[1] for p in pieces]
    else:
        raise ValueError(f"expected 5 ku or one unspaced poem, got {len(parts)} non-empty strings")
    if not all(ku):
        raise ValueError("a ku is empty once ruby and notes are taken out")
    readings = [_reading(h, m) for h, m in zip(hints, KU_MORAE, strict=True)]
    return ku, readings


def _link(rec: dict[str, Any], name: str):
    volume, number = rec.get("volume"), rec.get("number")
    if not isinstance(volume, int) or not isinstance(number, int):
        raise ValueError("volume and number must be integers")
    raw = rec.get("ku")
    if not isinstance(raw, list) or not raw:
        raise ValueError("ku must be a non-empty list of strings")
    ku, readings = _ku_and_readings(raw)
    season, topics = (None, ())
    if rec.get("anthology", "古今和歌集") == "古今和歌集":
        season, topics = VOLUMES.get(volume, (None, ()))
    pid = f"{volume:02d}-{number:04d}"
    return tanka_link(
        ku,
        readings,
        id=f"{name}-{pid}",
        group=f"{name}:{pid}",
        source=name,
        author=rec.get("author") or None,
        season=season,
        topics=topics,
    )


def read_kokinshu(
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
                link = _link(rec, name)
            except ValidationError as err:
                bad(line, f"invalid poem: {explain(err)}")
                continue
            except ValueError as err:
                bad(line, str(err))
                continue
            data.links.append(link)
    except json.JSONDecodeError as err:
        bad(err.lineno, f"not a JSON array of poems ({err.msg}); the rest of the file is skipped")
    return data
