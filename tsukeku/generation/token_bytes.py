"""The bytes each token id stands for, for every kind of tokenizer: byte-level BPE pieces
through GPT-2's byte alphabet, SentencePiece byte-fallback pieces (`<0xE3>`), and every other
piece decoded after an anchor token (so that decoders that drop or add a leading space give the
text the piece adds in the middle of a verse). The token table (token_table.py) reads these.
"""

from __future__ import annotations

import json
import re
from typing import Any

_BYTE_FALLBACK = re.compile(r"<0x([0-9A-Fa-f]{2})>")


def _decoder_types(tokenizer: Any) -> set[str]:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return set()
    try:
        spec = json.loads(backend.to_str()).get("decoder")
    except Exception:  # noqa: BLE001 - an exotic backend: fall back to decoding pieces
        return set()
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "type" in node:
                found.add(str(node["type"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    return found


def special_ids(tokenizer: Any) -> set[int]:
    ids = set(getattr(tokenizer, "all_special_ids", []) or [])
    for idx, added in (getattr(tokenizer, "added_tokens_decoder", {}) or {}).items():
        if getattr(added, "special", False):
            ids.add(int(idx))
    return ids


def vocab_size_of(tokenizer: Any) -> int:
    vocab = tokenizer.get_vocab()
    return max(len(tokenizer), (max(vocab.values()) + 1) if vocab else 0)


def token_bytes(tokenizer: Any) -> list[bytes | None]:
    """The bytes each token id stands for (None for special tokens and unused ids).

    Byte-level BPE pieces are mapped back through GPT-2's byte alphabet, SentencePiece
    byte-fallback pieces (`<0xE3>`) are single bytes, and every other piece is decoded after an
    anchor token and the anchor's text removed — so that decoders which drop or add a leading
    space (Metaspace "▁", WordPiece "##") give the text the piece adds in the middle of a verse.
    """
    # GPT-2's reversible byte ↔ printable-character map (transformers' own StopStringCriteria
    # reads byte-level pieces through it too; not in models.gpt2 any more as of transformers 5)
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    size = vocab_size_of(tokenizer)
    pieces = tokenizer.convert_ids_to_tokens(list(range(size)))
    specials = special_ids(tokenizer)
    decoders = _decoder_types(tokenizer)
    byte_level = "ByteLevel" in decoders or hasattr(tokenizer, "byte_decoder")
    inverse = {c: b for b, c in bytes_to_unicode().items()}
    added = {int(i) for i in (getattr(tokenizer, "added_tokens_decoder", {}) or {})}

    anchor = _anchor_id(tokenizer, pieces, specials)
    anchor_text = _decode(tokenizer, [anchor]) if anchor is not None else ""
    out: list[bytes | None] = []
    for idx, piece in enumerate(pieces):
        if piece is None or idx in specials:
            out.append(None)
            continue
        m = _BYTE_FALLBACK.fullmatch(piece)
        if m:
            out.append(bytes([int(m.group(1), 16)]))
        elif byte_level and idx not in added and all(c in inverse for c in piece):
            out.append(bytes(inverse[c] for c in piece))
        elif anchor is not None:
            text = _decode(tokenizer, [anchor, idx])
            out.append(
                text[len(anchor_text):].encode("utf-8") if text.startswith(anchor_text) else None
            )
        else:
            out.append(_decode(tokenizer, [idx]).encode("utf-8"))
    return out


def _decode(tokenizer: Any, ids: list[int]) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        return backend.decode(ids, skip_special_tokens=False)
    return tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)


def _anchor_id(tokenizer: Any, pieces: list[str | None], specials: set[int]) -> int | None:
    """A token that decodes to one visible character on its own (the prefix for decoding pieces)."""
    vocab = tokenizer.get_vocab()
    for cand in ("の", "あ", "a", "x", "▁の", "Ġ"):
        idx = vocab.get(cand)
        if idx is not None and idx not in specials:
            text = _decode(tokenizer, [idx])
            if len(text.strip()) == 1:
                return idx
    for idx, piece in enumerate(pieces):
        if piece is None or idx in specials:
            continue
        text = _decode(tokenizer, [idx])
        if len(text) == 1 and not text.isspace() and text != "\ufffd":
            return idx
    return None
