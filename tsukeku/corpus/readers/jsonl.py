"""Our own JSON Lines: one link (`previous`/`next`) or one chain (`verses`) per line.

Reading then writing gives back the same bytes for a file in the canonical form that
`write_records` produces (`json.dumps(record, ensure_ascii=False)` per line, keys in schema
order, unset defaults left out).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from tsukeku.corpus.issues import IssueLog
from tsukeku.corpus.model import Chain, Link
from tsukeku.corpus.readers.common import SourceData, log_not_json, read_text
from tsukeku.errors import explain_validation
from tsukeku.io import iter_jsonl, write_text_atomic


def read_records(
    path: str | os.PathLike, log: IssueLog | None = None, *, name: str | None = None
) -> SourceData:
    """Links and chains of one of our JSONL files; bad lines are reported and skipped."""
    log = log if log is not None else IssueLog()
    path = Path(path)
    data = SourceData(name=name or path.stem, path=str(path))
    seen: dict[str, int] = {}
    for lineno, obj in iter_jsonl(path, text=read_text(path),
                                  on_bad=log_not_json(log, path, data)):

        def bad(reason: str, lineno: int = lineno) -> None:
            log.bad(path, lineno, reason)
            data.bad_records += 1

        if not isinstance(obj, dict):
            bad(f"expected a JSON object, got {type(obj).__name__}")
            continue
        if "verses" in obj:
            model: type[Link] | type[Chain] = Chain
        elif "previous" in obj or "next" in obj:
            model = Link
        else:
            bad("neither a link (previous, next) nor a chain (verses)")
            continue
        try:
            record = model.model_validate(obj)
        except ValidationError as err:
            bad(f"invalid {model.__name__.lower()}: {explain_validation(err)}")
            continue
        if record.id in seen:
            bad(f"duplicate id {record.id!r} (first on line {seen[record.id]})")
            continue
        seen[record.id] = lineno
        (data.chains if isinstance(record, Chain) else data.links).append(record)
    return data


def dumps_records(records: Iterable[Link | Chain]) -> str:
    return "".join(r.to_line() + "\n" for r in records)


def write_records(path: str | os.PathLike, records: Iterable[Link | Chain]) -> Path:
    """Writes links and/or chains atomically in the canonical form."""
    return write_text_atomic(path, dumps_records(records))
