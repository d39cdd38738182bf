"""The token-reading table: what every vocabulary token contributes to the meter of a verse.

Mora-constrained decoding needs, for each token, how many morae it adds and whether it holds the
one space that separates ku. This module works that out once per tokenizer and caches it on disk
(`home()/token_tables/<hash of vocab and reading sources>.json`), because reading every token
through the morphological analyser takes seconds for a large vocabulary.

Each token is reduced to its bytes (token_bytes.py: byte-level BPE pieces, SentencePiece
byte-fallback pieces `<0xE3>`, ordinary pieces alike) and split into

    [leading UTF-8 continuation bytes] [body: complete characters] [tail: an unfinished character]

- The leading continuation bytes only make sense after a token that left a character unfinished;
  the automaton (constraints.py) resolves them against the pending bytes at decoding time.
- The body is usable inside a verse when it is Japanese (kana, kanji) with at most one ASCII
  space; it is read with `tsukeku.prosody` (kana directly, kanji through `reading`) and counted
  per side of the space (`m0` before it, `m1` after it).
- Symbols, Latin, digits, punctuation, newlines, several spaces, special tokens: unusable inside
  a verse (masked), because a 付句 is written in kana and kanji only and their reading is
  unknown or not part of the meter.
"""

from __future__ import annotations

import ast
import codecs
import hashlib
import importlib.metadata
import json
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from tsukeku.generation.token_bytes import token_bytes
from tsukeku.io import write_json_atomic
from tsukeku.paths import home
from tsukeku.prosody.kana import SMALL_KANA, is_kana, is_kanji, kana_morae

TABLE_VERSION = 1

# A small kana after one of these makes a combined mora (きゃ, ファ); after ん, っ, ー or a kanji
# it would not be Japanese, so the automaton only lets a small kana follow these.
_NOT_BEFORE_SMALL = frozenset("んンっッー") | SMALL_KANA
# Characters that repeat the previous one: meaningless at the start of a ku or token body.
_ITERATION = frozenset("々ゝゞヽヾ〻")


@lru_cache(maxsize=65536)
def segment_morae(text: str) -> int | None:
    """Morae of a run of Japanese characters (no space), or None when it cannot be read."""
    if not text:
        return 0
    if all(is_kana(c) for c in text):
        return kana_morae(text)
    if not all(is_kana(c) or is_kanji(c) for c in text):
        return None
    from tsukeku.errors import TsukekuError
    from tsukeku.prosody import reading

    try:
        kana = reading(text)
        return kana_morae(kana.replace(" ", ""))
    except TsukekuError:
        return None


_CHARS: dict[str, dict[str, int]] = {}


def readable_chars(cache_dir: Path | None = None) -> dict[str, int]:
    """Every kana and BMP kanji that has a reading on its own → its morae (cached on disk per
    prosody version). Byte-level vocabularies spell characters over several tokens; finishing
    one is a lookup here instead of an analysis per step."""
    fp = prosody_fingerprint()
    if fp in _CHARS:
        return _CHARS[fp]
    path = (cache_dir or home() / "token_tables") / f"chars-{fp}.json"
    table: dict[str, int] | None = None
    if path.exists():
        try:
            table = {k: int(v) for k, v in json.loads(path.read_text(encoding="utf-8")).items()}
        except (OSError, ValueError, AttributeError):
            table = None
    if table is None:
        table = {}
        for code in [*range(0x3041, 0x3100), *range(0x30A1, 0x3100), *range(0x3400, 0xA000),
                     *range(0xF900, 0xFB00)]:
            ch = chr(code)
            if ch in _ITERATION or not (is_kana(ch) or is_kanji(ch)):
                continue
            count = segment_morae(ch)
            if count is not None:
                table[ch] = count
        write_json_atomic(path, table, indent=None)
    _CHARS[fp] = table
    return table


_PREFIXES: dict[str, frozenset[bytes]] = {}


def viable_prefix(prefix: bytes) -> bool:
    """Whether some readable character starts with these (unfinished) UTF-8 bytes."""
    fp = prosody_fingerprint()
    prefixes = _PREFIXES.get(fp)
    if prefixes is None:
        found: set[bytes] = set()
        for ch in readable_chars():
            if ch in SMALL_KANA:
                continue
            raw = ch.encode("utf-8")
            found.update(raw[:i] for i in range(1, len(raw)))
        prefixes = _PREFIXES[fp] = frozenset(found)
    return prefix in prefixes


def char_morae(ch: str) -> int | None:
    """Morae of one character read on its own (None: no reading)."""
    if ch in _ITERATION:
        return None
    if len(ch) == 1 and ord(ch) < 0x10000:
        return readable_chars().get(ch)
    return segment_morae(ch)


def smallable(ch: str) -> bool:
    """Whether a small kana may follow `ch` (it is a full-size kana)."""
    return is_kana(ch) and ch not in _NOT_BEFORE_SMALL and ch not in _ITERATION


@dataclass
class BodyInfo:
    """The meter of one token body (complete characters, maybe followed by an unfinished one)."""

    usable: bool
    m0: int = 0  # morae before the space (or of the whole body when there is none)
    sp: bool = False  # holds the one space between ku
    m1: int = 0  # morae after the space
    tail: bytes = b""  # unfinished character at the end (bytes)
    seg0_empty: bool = True  # nothing before the space (or an empty body)
    starts_small: bool = False  # first character is a small kana (needs a kana before it)
    ends_smallable: bool = False  # last character may take a small kana after it
    empty: bool = True  # no complete character at all


def analyse_body(body: bytes) -> BodyInfo:
    """Meter of a byte string that starts on a character boundary."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        text = decoder.decode(body, final=False)
    except UnicodeDecodeError:
        return BodyInfo(usable=False)
    tail = body[len(text.encode("utf-8")):]
    info = BodyInfo(usable=True, tail=tail, empty=not text)
    if not text:
        return info
    if text.count(" ") > 1:
        return BodyInfo(usable=False)
    seg0, _, seg1 = text.partition(" ")
    info.sp = " " in text
    info.seg0_empty = not seg0
    for seg in (seg0, seg1):
        if seg and seg[0] in _ITERATION:
            return BodyInfo(usable=False)
    if seg1 and seg1[0] in SMALL_KANA:  # a ku may not begin with a small kana
        return BodyInfo(usable=False)
    if info.sp and tail and not seg1:  # " " + unfinished char: fine; handled as m1 = 0 + tail
        pass
    m0, m1 = segment_morae(seg0), segment_morae(seg1)
    if m0 is None or m1 is None:
        return BodyInfo(usable=False)
    info.m0, info.m1 = m0, m1
    first = seg0 or seg1
    info.starts_small = bool(first) and first[0] in SMALL_KANA
    info.ends_smallable = not tail and not text.endswith(" ") and smallable(text[-1])
    return info


def leading_continuation(raw: bytes) -> int:
    """Number of UTF-8 continuation bytes (10xxxxxx) a token starts with."""
    n = 0
    while n < len(raw) and 0x80 <= raw[n] <= 0xBF:
        n += 1
    return n


# ---------------------------------------------------------------------------------------------
# The table


@dataclass
class TokenTable:
    """Per-token meter arrays (numpy, length `size`) and the bytes needed to finish characters."""

    key: str
    size: int
    raw: list[bytes | None]
    usable: np.ndarray  # bool: the body can stand inside a verse
    cont_len: np.ndarray  # int8: leading continuation bytes
    m0: np.ndarray  # int16
    sp: np.ndarray  # bool
    m1: np.ndarray  # int16
    tail_id: np.ndarray  # int32 index into `tails` (0 = no unfinished character)
    tails: list[bytes]
    seg0_empty: np.ndarray  # bool
    starts_small: np.ndarray  # bool
    ends_smallable: np.ndarray  # bool
    body_empty: np.ndarray  # bool
    build_seconds: float = 0.0
    from_cache: bool = False
    cont_group: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    cont_groups: list[bytes] = field(default_factory=list)  # distinct leading-continuation runs

    def __post_init__(self) -> None:
        groups: dict[bytes, int] = {b"": 0}
        cont_group = np.zeros(self.size, dtype=np.int32)
        for idx in np.nonzero(self.cont_len > 0)[0]:
            raw = self.raw[idx]
            assert raw is not None
            lead = raw[: int(self.cont_len[idx])]
            cont_group[idx] = groups.setdefault(lead, len(groups))
        self.cont_group = cont_group
        self.cont_groups = list(groups)

    def describe(self, idx: int) -> dict[str, Any]:
        return {
            "raw": self.raw[idx],
            "usable": bool(self.usable[idx]),
            "cont_len": int(self.cont_len[idx]),
            "m0": int(self.m0[idx]),
            "sp": bool(self.sp[idx]),
            "m1": int(self.m1[idx]),
            "tail": self.tails[int(self.tail_id[idx])],
        }

    # -- (de)serialisation ---------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "version": TABLE_VERSION,
            "key": self.key,
            "size": self.size,
            "build_seconds": self.build_seconds,
            "raw": [None if b is None else b.hex() for b in self.raw],
            "tails": [t.hex() for t in self.tails],
            **{
                name: getattr(self, name).tolist()
                for name in _ARRAYS
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TokenTable:
        arrays = {name: np.asarray(data[name], dtype=dtype) for name, dtype in _ARRAYS.items()}
        return cls(
            key=data["key"],
            size=int(data["size"]),
            raw=[None if h is None else bytes.fromhex(h) for h in data["raw"]],
            tails=[bytes.fromhex(h) for h in data["tails"]],
            build_seconds=float(data.get("build_seconds", 0.0)),
            from_cache=True,
            **arrays,
        )


_ARRAYS: dict[str, Any] = {
    "usable": np.bool_,
    "cont_len": np.int8,
    "m0": np.int16,
    "sp": np.bool_,
    "m1": np.int16,
    "tail_id": np.int32,
    "seg0_empty": np.bool_,
    "starts_small": np.bool_,
    "ends_smallable": np.bool_,
    "body_empty": np.bool_,
}


def build_table(raw: list[bytes | None], key: str = "") -> TokenTable:
    """Analyses every token's bytes (no cache)."""
    start = time.perf_counter()
    size = len(raw)
    cols: dict[str, np.ndarray] = {
        name: np.zeros(size, dtype=dtype) for name, dtype in _ARRAYS.items()
    }
    tails: dict[bytes, int] = {b"": 0}
    for idx, token in enumerate(raw):
        if not token:
            continue
        lead = leading_continuation(token)
        if lead > 3:
            continue
        info = analyse_body(token[lead:])
        if not info.usable:
            continue
        cols["usable"][idx] = True
        cols["cont_len"][idx] = lead
        cols["m0"][idx] = info.m0
        cols["sp"][idx] = info.sp
        cols["m1"][idx] = info.m1
        cols["tail_id"][idx] = tails.setdefault(info.tail, len(tails))
        cols["seg0_empty"][idx] = info.seg0_empty
        cols["starts_small"][idx] = info.starts_small
        cols["ends_smallable"][idx] = info.ends_smallable
        cols["body_empty"][idx] = info.empty
    return TokenTable(
        key=key, size=size, raw=raw, tails=list(tails),
        build_seconds=time.perf_counter() - start, **cols,
    )


# The module every token is read through (segment_morae → prosody.reading), in its package.
_PACKAGE = "tsukeku.prosody"
_READING_MODULE = "reading"


def reading_sources(root: Path) -> list[Path]:
    """The files of the prosody package at ``root`` that readings depend on: the reading module,
    the prosody modules it imports (transitively, found in their import statements), and the
    package data (the lexicon). The form checker, the CLI and anything else the package holds
    are not among them, so editing those keeps every cached table."""
    found: set[str] = set()
    todo = [_READING_MODULE]
    while todo:
        name = todo.pop()
        path = root / f"{name}.py"
        if name in found or not path.is_file():
            continue
        found.add(name)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == _PACKAGE:
                todo += [alias.name for alias in node.names]  # from tsukeku.prosody import edges
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(_PACKAGE + "."):
                todo.append(node.module.split(".")[2])
            elif isinstance(node, ast.Import):
                todo += [a.name.split(".")[2] for a in node.names if a.name.startswith(_PACKAGE + ".")]
    data = [p for p in (root / "data").rglob("*") if p.is_file()] if (root / "data").is_dir() else []
    return sorted([*(root / f"{name}.py" for name in found), *data])


def reading_fingerprint(root: Path) -> str:
    """Hash of what readings depend on: the reading sources of the prosody package at ``root``
    and the versions of the analyser and its dictionary."""
    h = hashlib.sha256()
    for name in ("fugashi", "unidic-lite"):
        h.update(f"{name}={_version(name)}\x00".encode())
    for path in reading_sources(root):
        h.update(str(path.relative_to(root)).encode() + b"\x00" + path.read_bytes())
    return h.hexdigest()[:16]


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "none"


@lru_cache(maxsize=1)
def prosody_fingerprint() -> str:
    """The installed prosody package's reading fingerprint: a change in readings invalidates
    cached tables (and nothing else does)."""
    import tsukeku.prosody as prosody

    return reading_fingerprint(Path(prosody.__file__).parent)


def table_key(raw: list[bytes | None]) -> str:
    h = hashlib.sha256()
    h.update(f"v{TABLE_VERSION}:{prosody_fingerprint()}".encode())
    for token in raw:
        h.update(b"\x01" if token is None else b"\x02" + len(token).to_bytes(2, "big") + token)
    return h.hexdigest()[:24]


_MEMORY: dict[str, TokenTable] = {}


def clear_memory() -> None:
    """Forget the tables held in memory (the disk cache stays): what a new process starts with."""
    _MEMORY.clear()
    _CHARS.clear()
    _PREFIXES.clear()
    segment_morae.cache_clear()


def table_for(tokenizer: Any, *, cache_dir: Path | None = None) -> TokenTable:
    """The token table of `tokenizer`: from memory, from the disk cache, or built now (and
    cached). `build_seconds` on the result is what building it took (also when it came from the
    cache, where it records the original build)."""
    start = time.perf_counter()
    raw = token_bytes(tokenizer)
    key = table_key(raw)
    if key in _MEMORY:
        return _MEMORY[key]
    folder = cache_dir or home() / "token_tables"
    path = folder / f"{key}.json"
    table: TokenTable | None = None
    if path.exists():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("version") == TABLE_VERSION and data.get("key") == key:
                table = TokenTable.from_json(data)
        except (OSError, ValueError, KeyError):
            table = None  # a damaged cache file is rebuilt below
    if table is None:
        table = build_table(raw, key)
        if (table.cont_len > 0).any() or (table.tail_id > 0).any():
            readable_chars(folder)  # pieces of characters: finishing them needs the char table
        table.build_seconds = time.perf_counter() - start
        write_json_atomic(path, table.to_json(), indent=None)
    _MEMORY[key] = table
    return table
