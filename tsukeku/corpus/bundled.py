"""The bundled corpus: original verses of the tsukeku project shipped as package data
(`tsukeku/corpus/data/links.jsonl` and `chains.jsonl`), so that everything runs offline."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from tsukeku.corpus.issues import IssueLog
from tsukeku.corpus.model import Chain, Link
from tsukeku.corpus.readers.common import SourceData

NAME = "bundled"
DATA_FILES = ("links.jsonl", "chains.jsonl")


def load(log: IssueLog | None = None) -> SourceData:
    """Reads whichever bundled data files exist (both are optional while the corpus grows)."""
    from tsukeku.corpus.readers.jsonl import read_records

    log = log if log is not None else IssueLog()
    out = SourceData(name=NAME, path="tsukeku/corpus/data")
    root = resources.files("tsukeku.corpus").joinpath("data")
    for fname in DATA_FILES:
        res = root.joinpath(fname)
        if not res.is_file():
            continue
        with resources.as_file(res) as path:
            part = read_records(path, log, name=NAME)
        out.links.extend(part.links)
        out.chains.extend(part.chains)
        out.bad_records += part.bad_records
        out.warnings += part.warnings
    return out


@lru_cache(maxsize=1)
def _cached() -> SourceData:
    return load()


def bundled_links() -> list[Link]:
    """Every link of the bundled corpus: standalone links, then each chain's links."""
    return _cached().all_links()


def bundled_chains() -> list[Chain]:
    return list(_cached().chains)


def bundled_texts() -> list[str]:
    """Every distinct verse text of the bundled corpus, in file order (for pretraining the tiny
    base)."""
    return list(dict.fromkeys(v.text for v in _cached().verses()))
