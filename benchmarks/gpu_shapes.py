"""What `bench_gpu.py` builds: models of the published shapes (random weights, nothing
downloaded), a 32k SentencePiece-style tokenizer with byte fallback, and the bf16 peak of GPUs.

The machine that runs the GPU benchmark has no network, so no weights or tokenizer files can be
fetched: the models are built from the published configurations and randomly initialised (speed
and memory depend on the shape, not on the weights), and the tokenizer is built here from the
words of the MeCab dictionary the project already depends on (unidic-lite).
"""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import Any

# rinna/japanese-gpt-neox-3.6b, config.json on the Hugging Face hub (written down from the
# published file — no network here to fetch it; its model card's 36 layers × 2816 hidden and
# 3.6 B parameters are checked by tests/benchmarks). Every field that shapes the network or its
# compute is copied; the weights are random.
RINNA_3_6B: dict[str, Any] = {
    "model_type": "gpt_neox",
    "architectures": ["GPTNeoXForCausalLM"],
    "hidden_size": 2816,
    "num_hidden_layers": 36,
    "num_attention_heads": 22,
    "intermediate_size": 11264,
    "vocab_size": 32000,
    "max_position_embeddings": 2048,
    "rotary_pct": 1.0,
    "rotary_emb_base": 10000,
    "use_parallel_residual": False,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-5,
    "initializer_range": 0.02,
    "tie_word_embeddings": False,
    "bos_token_id": 2,
    "eos_token_id": 3,
    "use_cache": True,
}

# A Llama-2-7B-shaped model: meta-llama/Llama-2-7b-hf's config.json, whose shape ELYZA's base
# (elyza/ELYZA-japanese-Llama-2-7b) keeps. rms_norm_eps 1e-6 as in the earlier Llama-2 configs
# that ELYZA's derives from (Meta's current file says 1e-5; neither changes speed or memory).
# num_key_value_heads 32: no grouped-query attention at 7B in Llama 2.
LLAMA_2_7B: dict[str, Any] = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 4096,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "intermediate_size": 11008,
    "vocab_size": 32000,
    "max_position_embeddings": 4096,
    "hidden_act": "silu",
    "rms_norm_eps": 1e-6,
    "rope_theta": 10000.0,
    "initializer_range": 0.02,
    "tie_word_embeddings": False,
    "attention_bias": False,
    "pretraining_tp": 1,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "use_cache": True,
}

# --tiny: the same architectures and options, only narrow and shallow (a CPU test of the code)
TINY_SHAPE = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
              "intermediate_size": 176}

# Special tokens of each tokenizer, in id order from 0: rinna's config puts bos at 2 and eos at
# 3; Llama's SentencePiece model has <unk> 0, <s> 1, </s> 2 (and no pad: eos pads).
SPECIALS = {"gpt_neox": ["<pad>", "<unk>", "<s>", "</s>"], "llama": ["<unk>", "<s>", "</s>"]}

# Published dense (no sparsity) bf16 tensor-core peaks in TFLOPS, matched in this order against
# torch.cuda.get_device_name() in lower case (NVIDIA and AMD data sheets).
PEAK_BF16_TFLOPS: list[tuple[tuple[str, ...], float]] = [
    (("gh200",), 989.0),
    (("h200", "nvl"), 835.0),
    (("h200",), 989.0),
    (("h100", "nvl"), 835.0),
    (("h100", "pcie"), 756.0),
    (("h100",), 989.0),  # SXM ("NVIDIA H100 80GB HBM3")
    (("h800", "pcie"), 756.0),
    (("h800",), 989.0),
    (("b200",), 2250.0),
    (("a100",), 312.0),
    (("a800",), 312.0),
    (("l40s",), 362.0),
    (("l40",), 181.0),
    (("l4",), 121.0),
    (("a10",), 125.0),  # after a100: "a10" is also a prefix of it
    (("mi300x",), 1307.0),
]


def peak_bf16_tflops(device_name: str) -> float | None:
    name = device_name.lower()
    for keys, tflops in PEAK_BF16_TFLOPS:
        if all(k in name for k in keys):
            return tflops
    return None


def model_config(kind: str, *, tiny: bool, vocab_size: int):
    """The transformers config of `kind` ("rinna" or "llama"), full size or tiny."""
    from transformers import GPTNeoXConfig, LlamaConfig

    fields = dict(RINNA_3_6B if kind == "rinna" else LLAMA_2_7B)
    fields.pop("model_type")
    if tiny:
        fields.update(TINY_SHAPE)
        if kind == "llama":
            fields["num_key_value_heads"] = TINY_SHAPE["num_attention_heads"]
    fields["vocab_size"] = vocab_size
    cls = GPTNeoXConfig if kind == "rinna" else LlamaConfig
    config = cls(**fields)
    if kind == "rinna":  # transformers 5 moves rotary_pct into rope_parameters: check it arrived
        rope = getattr(config, "rope_parameters", None) or {}
        pct = getattr(config, "rotary_pct", None) or rope.get("partial_rotary_factor")
        if pct != fields["rotary_pct"]:
            raise RuntimeError(f"this transformers version read rotary_pct as {pct}")
    return config


def build_model(config: Any, device: str, dtype: Any):
    """A randomly initialised causal LM of `config`, created directly on `device` in `dtype`
    (no float32 copy on the host first: start-up in seconds at 7B)."""
    import torch
    from transformers import AutoModelForCausalLM

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa")
    finally:
        torch.set_default_dtype(previous)
    return model.to(device=device, dtype=dtype)


def matmul_parameters(model: Any) -> int:
    """Weights that take part in a matrix product per token (every Linear layer, the LM head
    included; not the input embedding, which is a lookup, nor norms and biases)."""
    import torch

    return sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))


# --- the tokenizer ------------------------------------------------------------------------------
def _is_japanese(ch: str) -> bool:
    code = ord(ch)
    return (0x3041 <= code <= 0x309F or 0x30A0 <= code <= 0x30FF or 0x4E00 <= code <= 0x9FFF
            or 0x3400 <= code <= 0x4DBF or ch == "々")


# shares of the dictionary words by script: MeCab's word cost alone would fill a vocabulary with
# katakana loanwords, while Japanese text (and a SentencePiece vocabulary learnt from it) is
# mostly kanji compounds and kana
WORD_SHARES = (("kanji", 0.65), ("hiragana", 0.15), ("katakana", 0.20))


def _script(word: str, common: set[str]) -> str | None:
    if all(0x3041 <= ord(c) <= 0x309F for c in word):
        return "hiragana"
    if all(0x30A0 <= ord(c) <= 0x30FF for c in word):
        return "katakana"
    if all(c in common or 0x3041 <= ord(c) <= 0x30FF for c in word):
        return "kanji"  # kanji (everyday ones only) with or without kana
    return None


def dictionary_words(limit: int) -> list[str]:
    """`limit` distinct written forms of unidic-lite's common words (2–4 characters, kana and
    everyday kanji, no proper nouns), cheapest word cost first within each script's share.

    unidic-lite ships only the compiled dictionary (sys.dic, MeCab's documented layout: a
    72-byte header, the double-array trie, 16-byte token records, then the feature strings);
    each token record points at its features: part of speech first, the written form (orth)
    ninth."""
    import numpy as np
    import unidic_lite

    data = (Path(unidic_lite.DICDIR) / "sys.dic").read_bytes()
    _magic, _version, _kind, _lex, _left, _right, dsize, tsize, fsize, _ = struct.unpack(
        "<10I", data[:40])
    record = np.dtype([("lc", "<u2"), ("rc", "<u2"), ("pos", "<u2"), ("cost", "<i2"),
                       ("feature", "<u4"), ("compound", "<u4")])
    tokens = np.frombuffer(data, dtype=record, count=tsize // record.itemsize, offset=72 + dsize)
    features = data[72 + dsize + tsize: 72 + dsize + tsize + fsize]
    order = np.lexsort((tokens["feature"], tokens["cost"]))  # cost, then a fixed tie-break
    common = set(_common_kanji())
    quota = {name: math.ceil(limit * share) for name, share in WORD_SHARES}
    pools: dict[str, list[str]] = {name: [] for name in quota}
    seen: set[str] = set()
    for i in order:
        start = int(tokens["feature"][i])
        fields = features[start: features.index(b"\0", start)].decode("utf-8").split(",")
        if len(fields) < 9 or fields[1] == "固有名詞":
            continue
        word = fields[8]
        if not 2 <= len(word) <= 4 or word in seen:
            continue
        script = _script(word, common)
        if script is None or len(pools[script]) >= quota[script]:
            continue
        seen.add(word)
        pools[script].append(word)
        if all(len(pools[n]) >= quota[n] for n in quota):
            break
    # interleaved by rank, so that every script has words among the highest scores
    words = [w for group in zip(*(pools[n] for n, _ in WORD_SHARES), strict=False) for w in group]
    rest = [w for n, _ in WORD_SHARES for w in pools[n][min(len(p) for p in pools.values()):]]
    return (words + rest)[:limit]


def _base_characters() -> list[str]:
    """Single-character pieces every Japanese SentencePiece vocabulary has: printable ASCII,
    Japanese punctuation, every kana, ー and 々."""
    chars = [chr(c) for c in range(0x21, 0x7F)]
    chars += list("、。「」『』（）：・！？…ー々〜　")
    chars += [chr(c) for c in range(0x3041, 0x3097)] + [chr(c) for c in range(0x30A1, 0x30FB)]
    return list(dict.fromkeys(chars))


def _common_kanji() -> list[str]:
    """JIS X 0208 level-1 kanji (the everyday set), in JIS order, from Python's EUC-JP codec."""
    out = []
    for first in range(0xB0, 0xD0):
        for second in range(0xA1, 0xFF):
            try:
                ch = bytes([first, second]).decode("euc_jp")
            except UnicodeDecodeError:
                continue
            if len(ch) == 1 and _is_japanese(ch):
                out.append(ch)
    return out


def build_tokenizer(vocab_size: int, specials: list[str]):
    """A SentencePiece-style Unigram tokenizer (Metaspace ▁, byte fallback) of exactly
    `vocab_size` pieces, wrapped as a transformers PreTrainedTokenizerFast. Deterministic.

    Pieces: the special tokens, the 256 byte pieces <0x00>…<0xFF>, ▁, the base characters,
    the everyday kanji, then dictionary words until the size is reached. Scores fall with a
    piece's rank (Zipf), so a word beats spelling it in characters; a character without a piece
    is spelt in UTF-8 byte pieces, as rinna's and Llama's tokenizers do."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    fixed = [*specials, *(f"<0x{b:02X}>" for b in range(256))]
    pieces = list(dict.fromkeys(["▁", *_base_characters(), *_common_kanji()]))
    room = vocab_size - len(fixed)
    if room < len(pieces):  # a small (test) vocabulary: the most common pieces first
        pieces = pieces[:room]
    else:
        words = dictionary_words(room - len(pieces) + 2000)
        known = set(pieces)
        pieces += [w for w in words if w not in known][: room - len(pieces)]
    if len(fixed) + len(pieces) != vocab_size:
        raise RuntimeError(f"could not fill a vocabulary of {vocab_size} pieces "
                           f"({len(fixed) + len(pieces)} found)")
    vocab = [(p, 0.0) for p in fixed]
    vocab += [(p, -math.log(rank + 2)) for rank, p in enumerate(pieces)]
    unk = specials.index("<unk>")
    tok = Tokenizer(models.Unigram(vocab, unk_id=unk, byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(),
                                     decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    names = {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}
    names["pad_token"] = "<pad>" if "<pad>" in specials else "</s>"
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **names)
    fast.padding_side = "right"
    return fast
