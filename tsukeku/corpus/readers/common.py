"""What every reader shares: the result of reading a source, line-aware JSON, and turning a
tanka (5 ku) into its one real link 上の句 → 下の句."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsukeku.corpus.model import Chain, Link, Verse

TANKA_FORM = "5-7-5-7-7"


@dataclass
class SourceData:
    """What one source yields: standalone links and whole chains (whose links come from
    `Chain.links()`), plus how many records were skipped as bad and how many warnings were
    raised."""

    name: str
    path: str | None = None
    links: list[Link] = field(default_factory=list)
    chains: list[Chain] = field(default_factory=list)
    bad_records: int = 0
    warnings: int = 0

    def all_links(self) -> list[Link]:
        """Every link with its source and group filled in: standalone links first, then each
        chain's links in order."""
        out = [self._fill(link) for link in self.links]
        for chain in self.chains:
            out.extend(self._fill(link) for link in chain.links())
        return out

    def _fill(self, link: Link) -> Link:
        update = {}
        if link.source is None:
            update["source"] = self.name
        if link.group is None:
            update["group"] = link.id
        return link.model_copy(update=update) if update else link

    def verses(self) -> list[Verse]:
        """Every verse once per occurrence: the chains' verses, then the links' (context,
        previous, next)."""
        out: list[Verse] = []
        for chain in self.chains:
            out.extend(chain.verses)
        for link in self.links:
            out.extend([*link.context, link.previous, link.next])
        return out


def normalise_space(text: str) -> str:
    """Full-width and repeated whitespace become one ASCII space; ends are trimmed."""
    return re.sub(r"[\s\u3000]+", " ", text).strip()


def split_tanka(text: str, *, what: str = "text") -> list[str]:
    """The five ku of a tanka given spaced (5 ku, or 上の句 and 下の句) or unspaced; unspaced
    parts are split with `tsukeku.prosody.split_ku`."""
    parts = normalise_space(text).split(" ") if text.strip() else []
    if len(parts) == 5:
        return parts
    if len(parts) == 1:
        return _split(parts[0], TANKA_FORM, 5, what)
    if len(parts) == 2:
        return split_halves(parts[0], parts[1], what=what)
    raise ValueError(
        f"{what} {text!r} has {len(parts)} space-separated parts; give 5 ku, 上の句 and "
        "下の句, or the whole poem unspaced"
    )


def split_halves(kami: str, shimo: str, *, what: str = "text") -> list[str]:
    """The five ku of a tanka given as 上の句 (3 ku, spaced or not) and 下の句 (2 ku)."""
    kp, sp = normalise_space(kami).split(" "), normalise_space(shimo).split(" ")
    upper = kp if len(kp) == 3 else _split("".join(kp), "5-7-5", 3, what)
    lower = sp if len(sp) == 2 else _split("".join(sp), "7-7", 2, what)
    return [*upper, *lower]


def _split(text: str, form: str, n: int, what: str) -> list[str]:
    from tsukeku.prosody import split_ku

    ku = [k.strip() for k in split_ku(text, form)]
    if len(ku) != n or not all(ku):
        raise ValueError(f"could not split {what} {text!r} into {form}")
    return ku


def tanka_link(
    ku: Sequence[str],
    readings: Sequence[str] | None,
    *,
    id: str,
    group: str,
    source: str,
    author: str | None = None,
    season: str | None = None,
    topics: Sequence[str] = (),
) -> Link:
    """The one real link of a tanka: 上の句 (長句) → 下の句 (短句), both of the same poem."""
    if len(ku) != 5 or (readings is not None and len(readings) != 5):
        raise ValueError("a tanka has 5 ku")
    meta: dict[str, Any] = {}
    if season is not None:
        meta["season"] = season
    if topics:
        meta["topics"] = list(topics)
    if author:
        meta["author"] = author

    def verse(sl: slice, kind: str) -> Verse:
        fields: dict[str, Any] = {"text": " ".join(ku[sl]), "kind": kind}
        if readings is not None:
            fields["reading"] = " ".join(readings[sl])
        return Verse(**fields, **meta)

    return Link(
        id=id,
        previous=verse(slice(0, 3), "長句"),
        next=verse(slice(3, 5), "短句"),
        source=source,
        group=group,
    )


def iter_json_array(text: str) -> Iterator[tuple[int, Any]]:
    """(line, element) for each element of a top-level JSON array, the line being where the
    element starts, so that a bad record can be reported as file:line."""
    dec = json.JSONDecoder()
    ws = re.compile(r"[ \t\r\n]*")
    line, counted = 1, 0

    def line_at(pos: int) -> int:
        nonlocal line, counted
        line += text.count("\n", counted, pos)
        counted = pos
        return line

    i = ws.match(text, 0).end()
    if i >= len(text) or text[i] != "[":
        raise json.JSONDecodeError("expected a JSON array", text, i)
    i = ws.match(text, i + 1).end()
    if i < len(text) and text[i] == "]":
        return
    while True:
        obj, j = dec.raw_decode(text, i)
        yield line_at(i), obj
        i = ws.match(text, j).end()
        if i < len(text) and text[i] == ",":
            i = ws.match(text, i + 1).end()
        elif i < len(text) and text[i] == "]":
            return
        else:
            raise json.JSONDecodeError("expected ',' or ']'", text, i)


def read_text(path: str | os.PathLike) -> str:
    from tsukeku.errors import DataError

    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path}: not UTF-8 text ({err.reason} at byte {err.start}); save it as UTF-8"
        ) from None


def log_not_json(log: Any, path: str | os.PathLike, data: SourceData
                 ) -> Callable[[int, json.JSONDecodeError], None]:
    """`tsukeku.io.iter_jsonl`'s on_bad for a corpus reader: the line is logged and counted as
    a bad record, and reading goes on."""

    def not_json(lineno: int, err: json.JSONDecodeError) -> None:
        log.bad(path, lineno, f"not JSON ({err.msg} at column {err.colno})")
        data.bad_records += 1

    return not_json


def read_json_poems(path: str | os.PathLike, log: Any, name: str,
                    to_link: Callable[[dict[str, Any]], Link]) -> SourceData:
    """A file holding a JSON array of poem objects → one link per poem via `to_link`; a record
    it rejects (ValueError, InputError, a validation error) is logged as file:line and skipped."""
    from pydantic import ValidationError

    from tsukeku.corpus.issues import IssueLog
    from tsukeku.errors import InputError, explain_validation

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
                link = to_link(rec)
            except ValidationError as err:
                bad(line, f"invalid poem: {explain_validation(err)}")
                continue
            except (ValueError, InputError) as err:
                bad(line, str(err))
                continue
            data.links.append(link)
    except json.JSONDecodeError as err:
        bad(err.lineno, f"not a JSON array of poems ({err.msg}); the rest of the file is skipped")
    return data
