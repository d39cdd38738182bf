"""Reading a chain to check from a file: JSON Lines of verse records, the corpus chains format
(one chain object per line, each checked on its own), or plain text with one verse per line.

Verse records are read leniently (only `text` is required): a chain that breaks the form is
for the checker to report, not for the reader to refuse. What cannot be read at all (a missing
file, an empty one, a JSON line that is not an object with `text`) is an InputError."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsukeku.errors import InputError
from tsukeku.io import iter_jsonl
from tsukeku.prompts import clean_verse

_FIELDS = ("text", "kind", "season", "topics", "reading", "author")


@dataclass
class ChainInput:
    verses: list[dict[str, Any]]
    form: str | None = None
    id: str | None = None
    where: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _verse(obj: Any, where: str) -> dict[str, Any]:
    if isinstance(obj, str):
        obj = {"text": obj}
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str) or not obj["text"].strip():
        raise InputError(f'{where}: a verse record needs a non-empty "text"')
    v = {k: obj[k] for k in _FIELDS if obj.get(k) is not None}
    v["text"] = clean_verse(v["text"])
    if "topics" in v and not isinstance(v["topics"], list | tuple):
        raise InputError(f'{where}: "topics" must be a list')
    return v


def read_chain_file(path: str | os.PathLike) -> list[ChainInput]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{p}: is a folder; give a chain file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{p}: cannot read it as UTF-8 text ({err})") from None
    lines = [(no, ln.strip()) for no, ln in enumerate(text.splitlines(), 1)]
    lines = [(no, ln) for no, ln in lines if ln and not ln.startswith("#")]
    if not lines:
        raise InputError(f"{p}: empty; give one verse per line or JSON Lines records")
    if not lines[0][1].startswith("{"):
        return [ChainInput([_verse(ln, f"{p}:{no}") for no, ln in lines], where=str(p))]
    records = list(iter_jsonl(p, text=text, comment="#", error=InputError))
    if all(isinstance(r, dict) and "verses" in r for _, r in records):
        chains = []
        for no, r in records:
            if not isinstance(r["verses"], list) or not r["verses"]:
                raise InputError(f'{p}:{no}: "verses" must be a non-empty list')
            verses = [_verse(v, f"{p}:{no}: verse {i}") for i, v in enumerate(r["verses"], 1)]
            form = r.get("form") if r.get("form") in ("歌仙", "半歌仙", "百韻") else None
            chains.append(ChainInput(verses, form, r.get("id"), f"{p}:{no}"))
        return chains
    return [ChainInput([_verse(r, f"{p}:{no}") for no, r in records], where=str(p))]
