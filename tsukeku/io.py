"""Atomic file writes: every file a run writes appears whole or not at all; and the one JSON
Lines reader (`iter_jsonl`, `read_jsonl`), whose error for a bad line names the file and line."""

import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from tsukeku.errors import DataError


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _default_mode() -> int:
    # mkstemp creates 0600 files (mkdtemp 0700 dirs); written files get the usual 0666 & ~umask.
    return 0o666 & ~_umask()


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike, obj: Any, *, indent: int | None = 2) -> Path:
    return write_text_atomic(path, json.dumps(obj, ensure_ascii=False, indent=indent) + "\n")


def write_jsonl_atomic(path: str | os.PathLike, records: Iterable[Any]) -> Path:
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    return write_text_atomic(path, lines)


def write_dir_atomic(target: str | os.PathLike, fill: Callable[[Path], object]) -> Path:
    """fill(tmp_dir), then swap it in for `target`: a reader sees the old directory or the new
    one, never half of one, and a failure leaves the old one untouched."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        fill(tmp)
        os.chmod(tmp, 0o777 & ~_umask())
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def iter_jsonl(path: str | os.PathLike, *, text: str | None = None, comment: str | None = None,
               error: Callable[[str], Exception] = DataError,
               on_bad: Callable[[int, json.JSONDecodeError], None] | None = None,
               ) -> Iterator[tuple[int, Any]]:
    """(line number, value) for each line of a JSON Lines file (UTF-8, a BOM allowed), blank
    lines and lines starting with `comment` skipped; `text`: the file's content when the caller
    has read it. Lines end at \\n, \\r\\n or \\r only (never at the other characters that
    str.splitlines takes for line breaks, which a JSON string may hold). A line that is not JSON
    goes to `on_bad(line number, error)` and is skipped when that is given (readers that log
    and go on), else raises `error` ("FILE:LINE: not valid JSON (…)")."""
    try:
        with (io.StringIO(text, newline=None) if text is not None
              else open(path, encoding="utf-8-sig")) as lines:
            for lineno, line in enumerate(lines, 1):
                if not line.strip() or (comment and line.lstrip().startswith(comment)):
                    continue
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as err:
                    if on_bad is None:
                        raise error(f"{path}:{lineno}: not valid JSON ({err.msg} at column "
                                    f"{err.colno})") from None
                    on_bad(lineno, err)
                    continue
                yield lineno, value
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except UnicodeDecodeError as err:
        raise error(f"{path}: not UTF-8 text ({err.reason} at byte {err.start}); save it as "
                    "UTF-8") from None


def read_jsonl(path: str | os.PathLike, *, missing_ok: bool = False,
               error: Callable[[str], Exception] = DataError) -> list[Any]:
    """The values of a JSON Lines file (as `iter_jsonl` reads it); `missing_ok`: a file that is
    not there reads as no values."""
    if missing_ok and not Path(path).exists():
        return []
    return [value for _, value in iter_jsonl(path, error=error)]
