"""Readers for every supported source, and the registry that maps a `--source` value to one.

A source is named (`bundled`, `hyakunin`, `kokinshu`, `hachidaishu`), named with a path
(`hachidaishu:~/data/hachidai.db`, `tanka:poems.csv`), or a path whose reader is chosen by its
extension and contents (a folder reads every file it holds):

- `.jsonl`: our links/chains (a record with `previous` or `verses`), else tanka records;
- `.json`: the Hyakunin Isshu layout (`kami`, `kami_kana` …), the Kokinshu layout (`volume`,
  `ku` …), else a JSON array of tanka records;
- `.csv` / `.tsv`: tanka records; `.txt`: renga chains in plain text; `.db`: hachidai.db.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

from tsukeku.corpus.issues import IssueLog
from tsukeku.corpus.readers.common import SourceData
from tsukeku.errors import DataError

Reader = Callable[..., SourceData]

NAMED_SOURCES = ("bundled", "hyakunin", "kokinshu", "hachidaishu")
FORMATS = ("jsonl", "tanka", "chains", "hyakunin", "kokinshu", "hachidaishu")
SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".txt", ".db")


def _reader(fmt: str) -> Reader:
    if fmt == "jsonl":
        from tsukeku.corpus.readers.jsonl import read_records

        return read_records
    if fmt == "tanka":
        from tsukeku.corpus.readers.tanka import read_tanka

        return read_tanka
    if fmt == "chains":
        from tsukeku.corpus.readers.text_chains import read_text_chains

        return read_text_chains
    if fmt == "hyakunin":
        from tsukeku.corpus.readers.hyakunin import read_hyakunin

        return read_hyakunin
    if fmt == "kokinshu":
        from tsukeku.corpus.readers.kokinshu import read_kokinshu

        return read_kokinshu
    if fmt == "hachidaishu":
        from tsukeku.corpus.readers.hachidaishu import read_hachidaishu

        return read_hachidaishu
    raise DataError(f"unknown source format {fmt!r}; known: {', '.join(FORMATS)}")


def shared_data_dirs() -> list[Path]:
    """Where the named reference sources are looked for: $TSUKEKU_SHARED_DATA, then
    ../shared/data beside the working directory and beside the tsukeku checkout."""
    from tsukeku.settings import env

    dirs = []
    if (configured := env().shared_data) is not None:
        dirs.append(configured.expanduser())
    dirs.append(Path.cwd().parent / "shared" / "data")
    dirs.append(Path(__file__).resolve().parents[3].parent / "shared" / "data")
    return list(dict.fromkeys(dirs))


def default_path(name: str) -> Path:
    """The file a bare source name reads."""
    from tsukeku.paths import home

    if name == "hachidaishu":
        from tsukeku.corpus.readers.hachidaishu import FILE_NAME

        candidates = [home() / "data" / FILE_NAME, *(d / FILE_NAME for d in shared_data_dirs())]
        hint = "run `tsukeku data fetch hachidaishu` first, or pass hachidaishu:PATH"
    else:
        from tsukeku.corpus.readers import hyakunin, kokinshu

        fname = {"hyakunin": hyakunin.FILE_NAME, "kokinshu": kokinshu.FILE_NAME}[name]
        candidates = [d / fname for d in shared_data_dirs()]
        hint = f"set TSUKEKU_SHARED_DATA to the folder holding {fname}, or pass {name}:PATH"
    for c in candidates:
        if c.is_file():
            return c
    looked = ", ".join(str(c) for c in candidates)
    raise DataError(f"source {name!r} not found (looked at {looked}); {hint}")


def detect_format(path: Path) -> str:
    """The reader for a file, from its extension and, for JSON, its first record."""
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return "chains"
    if suffix in (".csv", ".tsv"):
        return "tanka"
    if suffix == ".db":
        from tsukeku.corpus.readers.hachidaishu import looks_like_hachidaishu

        with open(path, encoding="utf-8", errors="replace") as f:
            first = next((line for line in f if line.strip()), "")
        if looks_like_hachidaishu(first):
            return "hachidaishu"
        raise DataError(f"{path}: not in the hachidai.db layout (id type code POS + 5 forms)")
    if suffix == ".jsonl":
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            first = next((line for line in f if line.strip()), "")
        try:
            rec = json.loads(first) if first else {}
        except json.JSONDecodeError:
            return "jsonl"  # the reader reports the bad line
        if isinstance(rec, dict) and not ({"previous", "next", "verses"} & rec.keys()):
            return "tanka"
        return "jsonl"
    if suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise DataError(f"{path}: not readable JSON ({err})") from None
        first = data[0] if isinstance(data, list) and data else {}
        if isinstance(first, dict):
            if {"kami", "kami_kana", "shimo_kana"} <= first.keys():
                return "hyakunin"
            if {"volume", "number", "ku"} <= first.keys():
                return "kokinshu"
        return "tanka"
    raise DataError(
        f"{path}: unknown file type; expected one of {', '.join(SUFFIXES)} "
        "(or name the format: FORMAT:PATH)"
    )


def read_source(spec: str, log: IssueLog | None = None) -> list[SourceData]:
    """Reads one `--source` value (a folder gives one SourceData per file)."""
    log = log if log is not None else IssueLog()
    if spec == "bundled":
        from tsukeku.corpus import bundled

        return [bundled.load(log)]
    fmt, _, rest = spec.partition(":")
    if rest and fmt in FORMATS:
        path = Path(rest).expanduser()
        if not path.is_file():
            raise DataError(f"{path}: no such file (from --source {spec})")
        name = fmt if fmt in NAMED_SOURCES else None
        return [_reader(fmt)(path, log, **({"name": name} if name else {}))]
    if spec in NAMED_SOURCES:
        return [_reader(spec)(default_path(spec), log)]
    path = Path(spec).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        if not files:
            raise DataError(f"{path}: no source files inside (expected {', '.join(SUFFIXES)})")
        return [_reader(detect_format(p))(p, log) for p in files]
    if path.is_file():
        return [_reader(detect_format(path))(path, log)]
    raise DataError(
        f"source {spec!r} is neither a name ({', '.join(NAMED_SOURCES)}) nor an existing file or "
        "folder"
    )


def read_sources(specs: Iterable[str], log: IssueLog | None = None) -> list[SourceData]:
    log = log if log is not None else IssueLog()
    out: list[SourceData] = []
    for spec in specs:
        out.extend(read_source(spec, log))
    return out


__all__ = ["SourceData", "read_source", "read_sources", "detect_format", "default_path"]
