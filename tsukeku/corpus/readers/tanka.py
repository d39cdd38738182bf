"""Collections of tanka in JSON Lines, a JSON array, CSV or TSV: one poem per record.

A record gives the poem as `text` (5 ku spaced, 上の句 and 下の句 spaced, or unspaced), as
`kami` + `shimo`, or (JSON) as `ku` (a list of 5); optionally its kana as `reading` (or `kana`,
or `kami_kana` + `shimo_kana`), and `id`, `author`, `season`, `topics`. Each poem yields exactly
its own link 上の句 → 下の句: no pair is ever made across poems.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tsukeku.corpus.issues import IssueLog
from tsukeku.corpus.readers.common import (
    SourceData,
    iter_json_array,
    log_not_json,
    normalise_space,
    read_text,
    split_halves,
    split_tanka,
    tanka_link,
)
from tsukeku.errors import InputError, explain_validation
from tsukeku.io import iter_jsonl
from tsukeku.prompts import SEASONS


def _str(rec: dict[str, Any], *keys: str) -> str | None:
    for k in keys:
        v = rec.get(k)
        if isinstance(v, str) and v.strip():
            return v.strip()
        if v is not None and not isinstance(v, str) and k != "ku":
            raise ValueError(f"field {k!r} must be a string, got {type(v).__name__}")
    return None


def _topics(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list) and all(isinstance(t, str) for t in value):
        return [t.strip() for t in value if t.strip()]
    if isinstance(value, str):
        return [t for t in re.split(r"[|,、，\s]+", value) if t]
    raise ValueError("topics must be a list of strings or a string separated by | or 、")


def _poem_ku(rec: dict[str, Any]) -> list[str]:
    ku = rec.get("ku")
    if ku is not None:
        if not (
            isinstance(ku, list)
            and len(ku) == 5
            and all(isinstance(k, str) and k.strip() for k in ku)
        ):
            raise ValueError("ku must be a list of 5 non-empty strings")
        return [normalise_space(k).replace(" ", "") for k in ku]
    kami, shimo = _str(rec, "kami"), _str(rec, "shimo")
    if kami or shimo:
        if not (kami and shimo):
            raise ValueError("give both kami and shimo")
        return split_halves(kami, shimo)
    text = _str(rec, "text", "poem", "tanka")
    if not text:
        raise ValueError("no poem: give text, kami and shimo, or ku")
    return split_tanka(text)


def _poem_readings(rec: dict[str, Any]) -> list[str] | None:
    kami, shimo = _str(rec, "kami_kana", "kami_reading"), _str(rec, "shimo_kana", "shimo_reading")
    if kami or shimo:
        if not (kami and shimo):
            raise ValueError("give both kami_kana and shimo_kana")
        return split_halves(kami, shimo, what="reading")
    reading = _str(rec, "reading", "kana", "yomi")
    return split_tanka(reading, what="reading") if reading else None


def tanka_record_link(rec: dict[str, Any], *, source: str, fallback_id: str):
    """The link of one tanka record (raises ValueError / ValidationError when it is bad)."""
    ku = _poem_ku(rec)
    readings = _poem_readings(rec)
    season = _str(rec, "season")
    if season is not None and season not in SEASONS:
        raise ValueError(f"season must be one of {'/'.join(SEASONS)}, got {season!r}")
    rid = rec.get("id")
    pid = str(rid).strip() if rid not in (None, "") else fallback_id
    return tanka_link(
        ku,
        readings,
        id=f"{source}-{pid}",
        group=f"{source}:{pid}",
        source=source,
        author=_str(rec, "author"),
        season=season,
        topics=_topics(rec.get("topics")),
    )


def _records(path: Path, text: str, not_json: Callable[[int, json.JSONDecodeError], None]
             ) -> Iterator[tuple[int, Any]]:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        delim = "\t" if suffix == ".tsv" else ","
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delim)
        start = 2  # the header is line 1
        for row in reader:
            yield start, {k.strip(): v for k, v in row.items() if k is not None}
            start = reader.line_num + 1
    elif suffix == ".json":
        yield from iter_json_array(text)
    else:
        yield from iter_jsonl(path, text=text, on_bad=not_json)


def read_tanka(
    path: str | os.PathLike, log: IssueLog | None = None, *, name: str | None = None
) -> SourceData:
    """The links 上の句 → 下の句 of a tanka collection (.jsonl, .json, .csv, .tsv)."""
    log = log if log is not None else IssueLog()
    path = Path(path)
    source = name or path.stem
    data = SourceData(name=source, path=str(path))
    seen: dict[str, int] = {}
    try:
        for lineno, rec in _records(path, read_text(path), log_not_json(log, path, data)):
            try:
                if not isinstance(rec, dict):
                    raise ValueError(f"expected an object per poem, got {type(rec).__name__}")
                link = tanka_record_link(rec, source=source, fallback_id=f"{lineno:05d}")
            except ValidationError as err:
                log.bad(path, lineno, f"invalid poem: {explain_validation(err)}")
                data.bad_records += 1
                continue
            except (ValueError, InputError) as err:
                log.bad(path, lineno, str(err))
                data.bad_records += 1
                continue
            if link.id in seen:
                log.bad(path, lineno, f"duplicate id {link.id!r} (first on line {seen[link.id]})")
                data.bad_records += 1
                continue
            seen[link.id] = lineno
            data.links.append(link)
    except json.JSONDecodeError as err:  # a broken JSON array cannot be resumed
        log.bad(
            path,
            err.lineno,
            f"not a JSON array of poems ({err.msg}); the rest of the file is skipped",
        )
        data.bad_records += 1
    except csv.Error as err:
        log.bad(path, None, f"unreadable CSV ({err}); the rest of the file is skipped")
        data.bad_records += 1
    return data
