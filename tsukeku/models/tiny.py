"""The offline base: a small GPT-NeoX (the rinna 3.6B architecture family) with its own byte-level
BPE tokenizer, pretrained on CPU with the HF Trainer on the verses of the bundled corpus.

The verses of the validation and test splits of the default dataset build are held out of both
the tokenizer and the pretraining text, so that held-out evaluation of a fine-tuned adapter stays
honest; the base's loss on them is reported in its model card.

Built on first use and cached under `tsukeku.paths.home()/tiny/<preset>-<hash of inputs>`; a file
lock plus an atomic rename keep two processes from building the same base at once.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from tsukeku.errors import ConfigError, DataError
from tsukeku.io import write_dir_atomic, write_json_atomic, write_text_atomic
from tsukeku.paths import home

BUILDER_VERSION = 1
EOS = "<|endoftext|>"
PAD = "<|pad|>"
SEPARATOR = "\n"  # between verses in the pretraining text, as in a chain written out


@dataclass(frozen=True)
class TinyPreset:
    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    context: int
    max_steps: int
    batch_size: int
    learning_rate: float
    seed: int = 0
    readings: bool = False  # also pretrain on the hiragana readings of the training verses
    dropout: float = 0.0
    # torch threads while building (0: torch's default). Matrices this small gain little from
    # a second thread, and on a shared CPU two spinning OpenMP threads can be 10x slower.
    threads: int = 0


PRESETS: dict[str, TinyPreset] = {
    # seconds on 2 cores: the tests' base
    "test": TinyPreset(vocab_size=1200, hidden_size=64, num_layers=2, num_heads=4,
                       intermediate_size=256, context=128, max_steps=60, batch_size=16,
                       learning_rate=3e-3, threads=1),
    # about a minute of CPU: the default base for demos and benchmarks. The corpus is small
    # (≈ 10k tokens a pass), so ~18 passes; more steps overfit. Chosen among 12 variants by the
    # validation 付句 loss of a LoRA tuned on it (docs/training.md): wider with dropout tunes
    # better than the 192-wide base whose own held-out LM loss is lower; 320 wide tuned a little
    # better still but made serving compute-bound on 2 cores.
    "default": TinyPreset(vocab_size=2000, hidden_size=256, num_layers=4, num_heads=4,
                          intermediate_size=768, context=128, max_steps=100, batch_size=16,
                          learning_rate=2e-3, dropout=0.1, threads=1),
}


def _preset(name: str) -> TinyPreset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown tiny preset {name!r}; choose one of {', '.join(PRESETS)}") from None


def pretraining_texts(readings: bool = False) -> tuple[list[str], list[str]]:
    """(training text, held-out text): the bundled verses (and, with `readings`, the hiragana
    readings of the training verses), split by whether the verse occurs in the validation or test split of the default
    dataset build (`tsukeku data build --source bundled`, seed 0)."""
    from tsukeku.corpus.bundled import bundled_texts

    texts = list(bundled_texts())
    if not texts:
        raise DataError("the bundled corpus has no verses; the tiny base cannot be built")
    splits = default_bundled_splits()
    held = {v for s in ("validation", "test") for link in splits.get(s, []) for v in _verses(link)}
    train = [t for t in texts if t not in held]
    heldout = [t for t in texts if t in held]
    if readings:
        reading_of = {}
        for recs in splits.values():
            for link in recs:
                for side in ("previous", "next"):
                    if link.get(f"{side}_reading"):
                        reading_of[link[side]] = link[f"{side}_reading"]
        # held-out text stays verse text only, so its loss compares across presets
        train += [reading_of[t] for t in train if t in reading_of]
    return train, heldout


def _verses(link: dict) -> list[str]:
    return [link["previous"], link["next"], *link.get("context", [])]


def default_bundled_splits() -> dict[str, list[dict]]:
    """The links of `tsukeku data build --source bundled` with its defaults, per split."""
    from tsukeku.corpus.build import build_dataset

    with tempfile.TemporaryDirectory(prefix="tsukeku-split-") as tmp:
        return build_dataset(("bundled",), tmp, seed=0).splits


def cache_key(preset: TinyPreset, train: Sequence[str], heldout: Sequence[str]) -> str:
    """What names a cached build (`<preset>-<key>` under home()/tiny): the preset, the builder
    version, the major transformers version and the training and held-out text."""
    import transformers

    h = hashlib.sha256()
    h.update(json.dumps({"preset": asdict(preset), "builder": BUILDER_VERSION,
                         "transformers": transformers.__version__.split(".")[0]},
                        sort_keys=True).encode())
    for part in (train, heldout):
        h.update(b"\x00PART")
        for t in part:
            h.update(t.encode("utf-8") + b"\x00")
    return h.hexdigest()[:16]


def default_base_path(preset: str = "default", *, quiet: bool = True) -> Path:
    """The cached tiny base for `preset`, built now if it is not there yet."""
    return build_tiny(None, preset=preset, quiet=quiet)


def build_tiny(
    out: str | os.PathLike | None = None,
    *,
    preset: str = "default",
    quiet: bool = False,
    texts: Sequence[str] | None = None,
    heldout: Sequence[str] | None = None,
) -> Path:
    """Builds (or finds in the cache) the tiny base and returns its directory.

    `out=None` uses the cache under home(); with `out` the base is (re)built there. `texts` /
    `heldout` replace the bundled verses (training text / held-out text) when given."""
    from filelock import FileLock

    spec = _preset(preset)
    if texts is None:
        train, held = pretraining_texts(readings=spec.readings)
        if heldout is not None:
            held = list(heldout)
    else:
        train, held = list(texts), list(heldout or [])
    if not train:
        raise DataError("no training text for the tiny base")
    key = cache_key(spec, train, held)

    if out is None:
        target = home() / "tiny" / f"{preset}-{key}"
        if _complete(target):
            return target
    else:
        target = Path(out).expanduser().resolve()
        if target.exists() and any(target.iterdir()) and not (target / "config.json").exists():
            raise ConfigError(f"{target} exists and is not a model directory; choose another --out")
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / f".{target.name}.lock")):
        if out is None and _complete(target):  # another process built it while we waited
            return target
        write_dir_atomic(target, lambda tmp: _build_into(tmp, spec, preset, train, held, key,
                                                         quiet=quiet))
    return target


def _complete(path: Path) -> bool:
    return (path / "tiny_base.json").exists()


def train_tokenizer(texts: Sequence[str], vocab_size: int):
    """A byte-level BPE tokenizer (no unknown tokens, like GPT-NeoX's) as PreTrainedTokenizerFast."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=EOS, bos_token=EOS, pad_token=PAD, model_max_length=None
    )
    return fast


class _Blocks:
    """Fixed-length blocks of a token stream (causal LM pretraining)."""

    def __init__(self, ids: list[int], context: int):
        n = max(1, len(ids) // context)
        self.blocks = [ids[i * context:(i + 1) * context] for i in range(n)]

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, i: int) -> dict:
        return {"input_ids": self.blocks[i]}


def _stream(tokenizer, verses: Sequence[str], seed: int, copies: int) -> list[int]:
    """Verses in `copies` shuffled orders, joined by newlines; eos between the orders."""
    rng = random.Random(seed)
    ids: list[int] = []
    for _ in range(copies):
        order = list(verses)
        rng.shuffle(order)
        ids.extend(tokenizer(SEPARATOR.join(order))["input_ids"])
        ids.append(tokenizer.eos_token_id)
    return ids


def _build_into(tmp: Path, spec: TinyPreset, preset: str, train: Sequence[str],
                held: Sequence[str], key: str, *, quiet: bool) -> None:
    import torch

    started = time.time()
    threads = torch.get_num_threads()
    if spec.threads:
        torch.set_num_threads(min(spec.threads, threads))
    try:
        _train_and_save(tmp, spec, preset, train, held, key, quiet=quiet, started=started)
    finally:
        torch.set_num_threads(threads)


def _train_and_save(tmp: Path, spec: TinyPreset, preset: str, train: Sequence[str],
                    held: Sequence[str], key: str, *, quiet: bool, started: float) -> None:
    import torch
    from transformers import (
        DataCollatorForLanguageModeling,
        GPTNeoXConfig,
        GPTNeoXForCausalLM,
        PrinterCallback,
        Trainer,
        TrainingArguments,
        set_seed,
    )
    from transformers.utils import logging as hf_logging

    set_seed(spec.seed)
    tokenizer = train_tokenizer(train, spec.vocab_size)
    config = GPTNeoXConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        intermediate_size=spec.intermediate_size,
        max_position_embeddings=spec.context * 2,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        hidden_dropout=spec.dropout,
        attention_dropout=spec.dropout,
        use_parallel_residual=True,
    )
    model = GPTNeoXForCausalLM(config)
    # enough shuffled copies of the verses that every step sees fresh block boundaries
    one_pass = len(tokenizer(SEPARATOR.join(train))["input_ids"])
    tokens_needed = spec.max_steps * spec.batch_size * spec.context
    copies = max(1, math.ceil(tokens_needed / max(1, one_pass)))
    train_ds = _Blocks(_stream(tokenizer, train, spec.seed, copies), spec.context)
    eval_ds = _Blocks(_stream(tokenizer, held, spec.seed + 1, 1), spec.context) if held else None

    work = tmp / "_trainer"
    args = TrainingArguments(
        output_dir=str(work),
        max_steps=spec.max_steps,
        per_device_train_batch_size=spec.batch_size,
        per_device_eval_batch_size=spec.batch_size,
        learning_rate=spec.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=max(1, spec.max_steps // 20),
        weight_decay=0.01,
        logging_steps=max(1, spec.max_steps // 10),
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        disable_tqdm=quiet,
        seed=spec.seed,
        dataloader_num_workers=0,
        use_cpu=not torch.cuda.is_available(),
    )
    collator = DataCollatorForLanguageModeling(tokenizer=tokenizer, mlm=False)
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    if quiet:
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    try:
        trainer = Trainer(model=model, args=args, data_collator=collator,
                          train_dataset=train_ds, processing_class=tokenizer)
        if quiet:
            trainer.remove_callback(PrinterCallback)
        result = trainer.train()
        eval_loss = trainer.evaluate(eval_ds)["eval_loss"] if eval_ds is not None else None
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    shutil.rmtree(work, ignore_errors=True)

    n_params = sum(p.numel() for p in model.parameters())
    info = {
        "preset": preset,
        "fingerprint": key,
        "builder_version": BUILDER_VERSION,
        "parameters": n_params,
        "vocab_size": len(tokenizer),
        "context": spec.context,
        "train_verses": len(train),
        "heldout_verses": len(held),
        "train_tokens_per_pass": one_pass,
        "steps": spec.max_steps,
        "train_loss": round(float(result.training_loss), 4),
        "heldout_loss": None if eval_loss is None else round(float(eval_loss), 4),
        "heldout_perplexity": None if eval_loss is None else round(math.exp(eval_loss), 2),
        "build_seconds": round(time.time() - started, 1),
        "preset_config": asdict(spec),
    }
    write_text_atomic(tmp / "README.md", _card(info))
    write_json_atomic(tmp / "tiny_base.json", info)  # written last: marks the build complete


def _card(info: dict) -> str:
    loss = info["heldout_loss"]
    held = f"{loss:.4f} (perplexity {info['heldout_perplexity']})" if loss is not None else "n/a"
    spec = info["preset_config"]
    return f"""---
language: ja
library_name: transformers
pipeline_tag: text-generation
license: apache-2.0
tags: [tsukeku, renga, gpt_neox]
---
# tsukeku tiny base ({info['preset']})

A small GPT-NeoX causal LM with its own byte-level BPE tokenizer, pretrained on CPU by
`tsukeku base build-tiny` on the original verses of the tsukeku bundled corpus. It exists so that
training, generation and serving run offline in seconds; it is not a good poet.

| | |
|---|---|
| parameters | {info['parameters']:,} |
| vocabulary | {info['vocab_size']} |
| layers × hidden × heads | {spec['num_layers']} × {spec['hidden_size']} × {spec['num_heads']} |
| context | {info['context']} tokens |
| pretraining | {info['steps']} steps × {spec['batch_size']} blocks, lr {spec['learning_rate']} cosine |
| training verses | {info['train_verses']} ({info['train_tokens_per_pass']} tokens per pass) |
| mean training loss (whole run) | {info['train_loss']} |
| held-out LM loss | {held} on {info['heldout_verses']} verses |
| build time | {info['build_seconds']} s |

Held out: every verse of the validation and test splits of the default dataset build
(`tsukeku data build --source bundled`), so that evaluation of adapters on those splits stays
honest. Fingerprint of the inputs: `{info['fingerprint']}`.
"""
