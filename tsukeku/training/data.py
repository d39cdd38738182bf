"""From a dataset directory (`tsukeku data build`) to tokenized examples with the prompt masked.

Each example is the prompt rendered by the dataset's PromptTemplate followed by the template's
target (the 付句 and its end marker); labels are -100 on every prompt token, so the loss is on
the 付句 tokens only.

Batching (`TrainConfig.batching`):
- packed (default): the Trainer's plain random batches, each packed into as few rows of
  max_length as fit (first fit, longest first) with position ids that restart at every example.
  transformers builds a block-diagonal causal mask from such position ids, so no example
  attends to another: the batch, the loss and the gradient are those of the same batch padded
  to max length, at about half the compute.
- grouped: a length-grouped sampler, each batch padded to its longest example.
- shuffled: a seeded shuffle, each batch padded to its longest example.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsukeku.errors import DataError
from tsukeku.io import iter_jsonl
from tsukeku.prompts import training_seat

SPLITS = ("train", "validation", "test")
IGNORE = -100
REQUIRED_FIELDS = ("previous", "next", "next_form")


def read_split(data_dir: str | os.PathLike, split: str) -> list[dict[str, Any]]:
    path = Path(data_dir) / f"{split}.jsonl"
    if not path.exists():
        raise DataError(f"{path} is missing; build the dataset with `tsukeku data build --out {data_dir}`")
    records = []
    for n, rec in iter_jsonl(path):
        missing = [k for k in REQUIRED_FIELDS if not isinstance(rec, dict) or not rec.get(k)]
        if missing:
            raise DataError(f"{path}:{n}: record lacks {', '.join(missing)}")
        records.append(rec)
    return records


def check_dataset_dir(data_dir: str | os.PathLike) -> Path:
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise DataError(
            f"dataset directory {path} does not exist; create it with "
            f"`tsukeku data build --source bundled --out {path}`"
        )
    missing = [f for f in ("train.jsonl", "validation.jsonl", "prompt.json") if not (path / f).exists()]
    if missing:
        raise DataError(
            f"{path} is not a tsukeku dataset (missing {', '.join(missing)}); build it with "
            f"`tsukeku data build --out {path}`"
        )
    return path


def load_template(data_dir: str | os.PathLike, name: str | None = None, tokenizer: Any = None):
    """The dataset's prompt template (prompt.json), or the named one when `name` is given."""
    from tsukeku.prompts import PromptTemplate, get_template

    if name:
        return get_template(name, tokenizer=tokenizer)
    return PromptTemplate.load(Path(data_dir), tokenizer=tokenizer)


@dataclass
class EncodedSplit:
    examples: list[dict[str, list[int]]]
    truncated: int = 0

    @property
    def lengths(self) -> list[int]:
        return [len(e["input_ids"]) for e in self.examples]

    @property
    def tokens(self) -> int:
        return sum(self.lengths)

    @property
    def target_tokens(self) -> int:
        return sum(sum(1 for x in e["labels"] if x != IGNORE) for e in self.examples)


def encode_example(tokenizer, template, rec: dict[str, Any], max_length: int) -> tuple[dict, bool]:
    """(example, truncated?) — prompt tokens labelled -100, target tokens labelled themselves.

    Prompt and target are tokenized separately, as at generation time (the prompt is encoded
    alone and the model continues it); the tokenizer's eos follows the template's end marker so
    the model learns to stop. Too long: the prompt loses tokens from its start (the oldest
    context), the 付句 is kept whole where it fits."""
    # the 付句's labels as the seat (秋・月 → a verse with the moon), for half of the links
    prompt = template.render(rec["previous"], rec["next_form"], rec.get("context") or (),
                             training_seat(rec))
    return encode_pair(tokenizer, prompt, template.target(rec["next"]), max_length)


def encode_pair(tokenizer, prompt: str, target: str, max_length: int) -> tuple[dict, bool]:
    """(example, truncated?) of a rendered prompt and its target text: encode_example's
    encoding, for targets that are not a record's own 付句 (preference pairs)."""
    p = tokenizer(prompt, add_special_tokens=True)["input_ids"]
    t = tokenizer(target, add_special_tokens=False)["input_ids"]
    eos = tokenizer.eos_token_id
    if eos is not None and (not t or t[-1] != eos):
        t = [*t, eos]
    truncated = False
    if len(p) + len(t) > max_length:
        truncated = True
        t = t[: max_length - 1]
        p = p[len(p) - (max_length - len(t)):]
    return {"input_ids": p + t, "labels": [IGNORE] * len(p) + list(t)}, truncated


def encode_split(tokenizer, template, records: Sequence[dict], max_length: int) -> EncodedSplit:
    out = EncodedSplit([])
    for rec in records:
        ex, cut = encode_example(tokenizer, template, rec, max_length)
        out.examples.append(ex)
        out.truncated += cut
    return out


class ExampleDataset:
    """A map-style dataset of encoded examples (what the Trainer and the collator consume)."""

    def __init__(self, split: EncodedSplit):
        self.examples = split.examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.examples[i]


def make_collator(tokenizer, pad_to_multiple_of: int | None = None):
    """Dynamic padding to the longest example of the batch; labels padded with -100."""
    from transformers import DataCollatorForSeq2Seq

    return DataCollatorForSeq2Seq(
        tokenizer,
        padding="longest",
        pad_to_multiple_of=pad_to_multiple_of,
        label_pad_token_id=IGNORE,
        return_tensors="pt",
    )


class PackedCollator:
    """Packs a batch of examples into rows of at most `max_length` tokens, one position-id run
    per example, and no attention mask: the model's mask code (`find_packed_sequence_indices`)
    then keeps every example to itself. The unused tail of a row is a filler run of pad tokens
    (labels -100) with its own positions, so it too attends only to itself."""

    def __init__(self, pad_token_id: int, max_length: int):
        self.pad = pad_token_id
        self.max_length = max_length

    def rows(self, examples: Sequence[dict[str, list[int]]]) -> list[list[int]]:
        """Indices of the examples in each row: first fit, longest first (deterministic)."""
        order = sorted(range(len(examples)), key=lambda i: -len(examples[i]["input_ids"]))
        rows: list[list[int]] = []
        used: list[int] = []
        for i in order:
            n = len(examples[i]["input_ids"])
            for r, u in enumerate(used):
                if u + n <= self.max_length:
                    rows[r].append(i)
                    used[r] += n
                    break
            else:
                rows.append([i])
                used.append(n)
        return rows

    def __call__(self, examples: Sequence[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        packed = []
        for row in self.rows(examples):
            ids: list[int] = []
            labels: list[int] = []
            pos: list[int] = []
            for i in row:
                e = examples[i]
                ids += e["input_ids"]
                # the example's first label would be predicted from the previous example's last token
                labels += [IGNORE, *e["labels"][1:]]
                pos += range(len(e["input_ids"]))
            packed.append((ids, labels, pos))
        width = max(len(ids) for ids, _, _ in packed)
        out: dict[str, list[list[int]]] = {"input_ids": [], "labels": [], "position_ids": []}
        for ids, labels, pos in packed:
            fill = width - len(ids)
            out["input_ids"].append(ids + [self.pad] * fill)
            out["labels"].append(labels + [IGNORE] * fill)
            out["position_ids"].append(pos + list(range(fill)))
        return {k: torch.tensor(v, dtype=torch.long) for k, v in out.items()}


# attention implementations whose mask comes from transformers' masking utils, which read packed
# position ids; flash-attention kernels honour them only for a single row
PACKABLE_ATTENTION = ("sdpa", "eager", "flex_attention")


def packing_supported(model: Any) -> bool:
    config = getattr(model, "config", None)
    return getattr(config, "_attn_implementation", None) in PACKABLE_ATTENTION


class LengthGroupedEpochSampler:
    """transformers' length grouping, but with its own generator seeded by (seed, epoch).

    The Trainer's own LengthGroupedSampler draws from the global torch RNG, so a resumed run
    would see a different order than an uninterrupted one; this one gives the same order for an
    epoch whenever it is replayed (the Trainer calls set_epoch)."""

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int):
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        import torch
        from transformers.trainer_pt_utils import get_length_grouped_indices

        g = torch.Generator()
        g.manual_seed(self.seed * 1000003 + self.epoch)
        grouped = get_length_grouped_indices(self.lengths, self.batch_size, generator=g)
        # grouping sorts each mega-batch long → short; visiting the batches in a random order
        # (each batch kept whole, so padding stays low) removes that length curriculum
        batches = [grouped[i:i + self.batch_size] for i in range(0, len(grouped), self.batch_size)]
        order = torch.randperm(len(batches), generator=g).tolist()
        return iter([i for b in order for i in batches[b]])


class SeededRandomSampler(LengthGroupedEpochSampler):
    """A plain shuffle with the same replayable (seed, epoch) generator."""

    def __iter__(self) -> Iterator[int]:
        import torch

        g = torch.Generator()
        g.manual_seed(self.seed * 1000003 + self.epoch)
        return iter(torch.randperm(len(self.lengths), generator=g).tolist())


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class DataManifest:
    dataset_dir: str
    files: list[dict[str, Any]] = field(default_factory=list)
    splits: dict[str, dict[str, int]] = field(default_factory=dict)
    prompt_template: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"dataset_dir": self.dataset_dir, "prompt_template": self.prompt_template,
                "files": self.files, "splits": self.splits}


def manifest(data_dir: Path, encoded: dict[str, EncodedSplit], template_name: str | None) -> DataManifest:
    """Files (sha256, bytes, lines) and per-split counts of what the run trained and evaluated on."""
    m = DataManifest(str(data_dir.resolve()), prompt_template=template_name)
    for f in sorted(data_dir.iterdir()):
        if f.is_file() and f.suffix in (".jsonl", ".json"):
            data = f.read_bytes()
            m.files.append({"name": f.name, "sha256": sha256_file(f), "bytes": len(data),
                            "lines": data.count(b"\n")})
    for split, enc in encoded.items():
        m.splits[split] = {"examples": len(enc.examples), "tokens": enc.tokens,
                           "target_tokens": enc.target_tokens, "truncated": enc.truncated}
    return m
