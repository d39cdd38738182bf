"""Held-out loss on the 付句 tokens: the mean negative log-likelihood per target token.

The Trainer's own eval loss averages per-batch means, which weights tokens of short batches more;
this one sums token losses over the whole split and divides once."""

from __future__ import annotations

import math
from typing import Any

from tsukeku.training.data import IGNORE


def target_loss(model: Any, examples: list[dict[str, list[int]]], collator: Any,
                batch_size: int = 16, device: Any = None) -> dict[str, float]:
    """{"loss", "perplexity", "tokens", "examples"} over the target (non -100) tokens: the
    examples' summed NLLs (target_nll) over their target tokens, divided once."""
    if not examples:
        return {"loss": float("nan"), "perplexity": float("nan"), "tokens": 0, "examples": 0}
    per_example = target_nll(model, examples, collator, batch_size, device)
    total = math.fsum(nll for nll, _ in per_example)
    count = sum(n for _, n in per_example)
    loss = total / max(count, 1)
    return {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "tokens": count,
            "examples": len(examples)}


def target_nll(model: Any, examples: list[dict[str, list[int]]], collator: Any,
               batch_size: int = 16, device: Any = None) -> list[tuple[float, int]]:
    """(summed NLL, target tokens) of each example, in the order given (batched by length):
    what target_loss averages, and what ranks candidate 付句 by their likelihood."""
    import torch
    import torch.nn.functional as F

    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    order = sorted(range(len(examples)), key=lambda i: len(examples[i]["input_ids"]))
    out: list[tuple[float, int]] = [(0.0, 0)] * len(examples)
    try:
        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                rows = order[start:start + batch_size]
                batch = collator([examples[i] for i in rows])
                labels = batch.pop("labels").to(device)
                batch = {k: v.to(device) for k, v in batch.items()}
                logits = model(**batch).logits[:, :-1].float()
                gold = labels[:, 1:]
                nll = F.cross_entropy(logits.transpose(1, 2), gold, ignore_index=IGNORE,
                                      reduction="none").sum(dim=1)
                counts = (gold != IGNORE).sum(dim=1)
                for row, total, count in zip(rows, nll.tolist(), counts.tolist(), strict=True):
                    out[row] = (total, int(count))
    finally:
        model.train(was_training)
    return out
