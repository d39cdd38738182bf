"""Tokenizers of every kind the constraint must handle, trained here on the bundled verses, and
small random-init GPT-NeoX models over them (random weights spread probability over the whole
vocabulary, so sampling visits every kind of token: byte pieces, symbols, kanji runs)."""

from __future__ import annotations

import json

import pytest
import torch

KINDS = ("char", "unigram", "sp_byte_fallback", "byte_bpe")
EOS, PAD, UNK = "<|endoftext|>", "<|pad|>", "<unk>"


@pytest.fixture(scope="session")
def verses() -> list[str]:
    from tsukeku.corpus.bundled import bundled_texts

    return list(bundled_texts())


@pytest.fixture(scope="session")
def training_text(verses) -> list[str]:
    """Verses plus prompts as the completion template writes them (so its characters exist)."""
    from tsukeku.prompts import get_template

    tpl = get_template("completion")
    out = list(verses)
    for i, v in enumerate(verses[:60]):
        form = "7-7" if len(v.split()) == 3 else "5-7-5"
        out.append(tpl.render(v, form, verses[max(0, i - 2):i]) + tpl.target(verses[i + 1]))
    return out


def _wrap(tok):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=PAD,
                                   unk_token=UNK if tok.token_to_id(UNK) is not None else None)


def char_tokenizer(texts):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    chars = sorted({c for t in texts for c in t})
    vocab = {EOS: 0, PAD: 1, UNK: 2}
    for c in chars:
        vocab.setdefault(c, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()
    return _wrap(tok)


def unigram_tokenizer(texts, byte_fallback: bool = False):
    """SentencePiece-style Unigram with the Metaspace "▁" (optionally with byte fallback pieces
    <0x00>…<0xFF>, as Llama/ELYZA vocabularies have)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    trainer = trainers.UnigramTrainer(vocab_size=2000, special_tokens=[EOS, PAD, UNK],
                                      unk_token=UNK, show_progress=False)
    tok.train_from_iterator(texts, trainer)
    if byte_fallback:
        spec = json.loads(tok.to_str())
        pieces = [(p, s) for p, s in spec["model"]["vocab"]]
        rare = {c for c in "".join(texts)}
        # drop most single-kanji pieces so that byte pieces are really needed
        pieces = [(p, s) for p, s in pieces if not (len(p) == 1 and p in rare and ord(p) > 0x4E00
                                                     and ord(p) % 3)]
        pieces += [(f"<0x{b:02X}>", -20.0) for b in range(256)]
        unk = [p for p, _ in pieces].index(UNK)
        model = models.Unigram(pieces, unk_id=unk, byte_fallback=True)
        new = Tokenizer(model)
        new.pre_tokenizer = tok.pre_tokenizer
        new.decoder = decoders.Sequence([decoders.Metaspace(replacement="▁", prepend_scheme="first"),
                                         decoders.ByteFallback(), decoders.Fuse()])
        new.add_special_tokens([EOS, PAD, UNK])
        tok = new
    return _wrap(tok)


def byte_bpe_tokenizer(texts):
    from tsukeku.models.tiny import train_tokenizer

    return train_tokenizer(texts, 900)


def make_tokenizer(kind: str, texts):
    if kind == "char":
        return char_tokenizer(texts)
    if kind == "unigram":
        return unigram_tokenizer(texts)
    if kind == "sp_byte_fallback":
        return unigram_tokenizer(texts, byte_fallback=True)
    if kind == "byte_bpe":
        return byte_bpe_tokenizer(texts)
    raise ValueError(kind)


def random_model(tokenizer, seed: int = 0):
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    torch.manual_seed(seed)
    cfg = GPTNeoXConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=512,
                        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                        bos_token_id=tokenizer.eos_token_id)
    return GPTNeoXForCausalLM(cfg).eval()


@pytest.fixture(scope="session")
def tokenizers_by_kind(training_text):
    torch.set_num_threads(1)  # tiny models: one thread is fastest on a shared CPU
    return {kind: make_tokenizer(kind, training_text) for kind in KINDS}


@pytest.fixture(scope="session")
def composers(tokenizers_by_kind):
    from tsukeku.generation.composer import Composer

    return {kind: Composer(random_model(tok), tok, template="completion", name=f"random-{kind}")
            for kind, tok in tokenizers_by_kind.items()}
