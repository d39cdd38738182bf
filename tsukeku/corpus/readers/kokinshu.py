"""古今和歌集 as laid out in `kokinshu_vol1-7.json` (records with `anthology`, `volume`,
`number`, `author`, `ku`, `kotobagaki`).

`ku` holds five strings, or one string with the whole unspaced poem, which is split with
`tsukeku.prosody.split_ku(text, "5-7-5-7-7")`. Inline ruby (`一年〈ひととせ〉を`) is given to
`tsukeku.prosody` with the text (it reads the ruby as the reading of the word before it and never
cuts a ku inside it), then taken out of the verse text. Season and topics come from the
volume (巻一–二 春, 巻三 夏, 巻四–五 秋, 巻六 冬, 巻十一–十五 恋, …).
"""

from __future__ import annotations

import os
import re
from typing import Any

from tsukeku.corpus.issues import IssueLog
from tsukeku.corpus.readers.common import (
    TANKA_FORM,
    SourceData,
    normalise_space,
    read_json_poems,
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


_NOTE = re.compile(r"[（(]([^（）()]*)[）)]")
_RUBY_ALTERNATIVES = re.compile(r"〈([^〈〉、,，]*)[、,，][^〈〉]*〉")
_RUBY = re.compile(r"〈[^〈〉]*〉|[（(][\u3041-\u309f\u30a0-\u30ff]+[）)]")
_KANA_ONLY = re.compile(r"^[\u3041-\u309f\u30a0-\u30ff]+$")


def clean(text: str) -> str:
    """Editorial notes out (`まつ(松、待つ)` → `まつ`; kana in parentheses is ruby and stays), a
    ruby with alternatives reduced to the first (`〈よそ、四十〉` → `〈よそ〉`)."""
    text = _NOTE.sub(lambda m: m.group(0) if _KANA_ONLY.match(m.group(1)) else "", text)
    return _RUBY_ALTERNATIVES.sub(r"〈\1〉", normalise_space(text).replace(" ", ""))


def strip_ruby(text: str) -> str:
    return _RUBY.sub("", text)


def _ku_and_readings(raw_ku: list[str]) -> tuple[list[str], list[str]]:
    """Plain ku and their readings; the ruby is read by `tsukeku.prosody` (it reads 〈〉 as the
    reading of the word before) and then taken out of the text."""
    from tsukeku.prosody import reading, split_ku

    parts = [clean(k) for k in raw_ku if isinstance(k, str) and k.strip()]
    parts = [p for p in parts if p]
    if len(parts) == 1:
        parts = [k.strip() for k in split_ku(parts[0], TANKA_FORM)]
    if len(parts) != 5:
        raise ValueError(f"expected 5 ku or one unspaced poem, got {len(parts)} non-empty strings")
    ku = [strip_ruby(p) for p in parts]
    if not all(ku):
        raise ValueError("a ku is empty once ruby and notes are taken out")
    readings = [
        reading(p, expected=m).replace(" ", "") for p, m in zip(parts, KU_MORAE, strict=True)
    ]
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
    return read_json_poems(path, log, name, lambda rec: _link(rec, name))
