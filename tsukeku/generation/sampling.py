"""Sampling settings per row, for a batch that mixes requests in one `generate` call.

transformers' own warpers and `max_new_tokens` take one value per call; rows of different
requests may ask for different temperatures, top-k, top-p and lengths. Nothing here knows about
morae (that is constraints.py).
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import LogitsProcessor, StoppingCriteria, StoppingCriteriaList


class RowSamplingLogitsProcessor(LogitsProcessor):
    """Temperature, top-k and top-p chosen per row, for a batch mixing requests with different
    sampling settings in one generate call (generate's own warpers take one value per call).
    Applied after the constraint mask; rows use the same rules as transformers' warpers."""

    def __init__(self, temperature: list[float], top_k: list[int], top_p: list[float]):
        self.temperature = torch.tensor(temperature, dtype=torch.float32).clamp_min(1e-5)
        self.top_k = top_k
        self.top_p = torch.tensor(top_p, dtype=torch.float32)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        scores = scores / self.temperature.to(scores.device, scores.dtype).unsqueeze(1)
        vocab = scores.shape[-1]
        ks = torch.tensor([k if 0 < k < vocab else vocab for k in self.top_k],
                          device=scores.device)
        if bool((ks < vocab).any()):
            kth = torch.sort(scores, dim=-1, descending=True).values.gather(
                1, (ks - 1).unsqueeze(1))
            scores = scores.masked_fill(scores < kth, float("-inf"))
        top_p = self.top_p.to(scores.device)
        if bool((top_p < 1.0).any()):
            sorted_logits, sorted_idx = torch.sort(scores, descending=False, dim=-1)
            cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
            remove = cumulative <= (1 - top_p).unsqueeze(1)
            remove[:, -1] = False  # keep at least one token
            remove = remove.scatter(1, sorted_idx, remove)
            scores = scores.masked_fill(remove, float("-inf"))
        return scores


def draw_rows(scores: torch.Tensor, temperature: list[float], top_k: list[int],
              top_p: list[float], generators: list[Any]) -> torch.Tensor:
    """One token per row from `scores` (the allowed logits) under each row's temperature, top-k
    and top-p — the distribution `RowSamplingLogitsProcessor` then softmax and multinomial give
    — without sorting the vocabulary: a draw by inverse CDF from the (top-k-cut) distribution,
    redrawn while it falls outside the row's nucleus. Accepting only nucleus tokens is the
    nucleus distribution renormalised, and a token is in the nucleus when the mass strictly
    more likely than it is under top_p (the most likely token always is). A row with its own
    `torch.Generator` draws only from it, so its tokens do not depend on the other rows."""
    rows, vocab = scores.shape
    device = scores.device
    temp = torch.tensor(temperature, dtype=scores.dtype, device=device).clamp_min(1e-5)
    scores = scores / temp.unsqueeze(1)
    ks = [k if 0 < k < vocab else 0 for k in top_k]
    if any(ks):
        # the k-th largest of each row (topk of the largest k asked, not a sort of the vocabulary)
        top = torch.topk(scores, max(ks), dim=-1).values
        index = torch.tensor([max(k, 1) - 1 for k in ks], device=device).unsqueeze(1)
        kth = top.gather(1, index)
        kth[torch.tensor([k == 0 for k in ks], device=device)] = float("-inf")
        scores = scores.masked_fill(scores < kth, float("-inf"))
    probs = scores.softmax(-1)
    cdf = probs.cumsum(-1)
    nucleus = torch.tensor(top_p, dtype=probs.dtype, device=device)
    tokens = torch.empty(rows, dtype=torch.long, device=device)
    todo = torch.arange(rows, device=device)
    own = [i for i, g in enumerate(generators) if g is not None]
    while len(todo):
        u = torch.rand(len(todo), dtype=probs.dtype, device=device)
        if own:
            pick = todo.tolist()
            for j, i in enumerate(pick):
                if generators[i] is not None:
                    u[j] = torch.rand(1, generator=generators[i], dtype=probs.dtype,
                                      device=device)[0]
        c = cdf[todo]
        drawn = torch.searchsorted(c, (u * c[:, -1]).unsqueeze(1), right=True)
        drawn = drawn.clamp(max=vocab - 1)
        p = probs[todo]
        p_tok = p.gather(1, drawn)
        above = (p * (p > p_tok)).sum(-1)
        ok = (p_tok[:, 0] > 0) & ((above < nucleus[todo]) | (above == 0))
        tokens[todo[ok]] = drawn[ok, 0]
        todo = todo[~ok]
    return tokens


class RowMaxNewTokens(StoppingCriteria):
    """Stops each row at its own `max_new_tokens` (requests in one batch may differ)."""

    def __init__(self, prompt_length: int, max_new_tokens: list[int]):
        self.prompt_length = prompt_length
        self.limits = torch.tensor(max_new_tokens)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor, **kwargs: Any
                 ) -> torch.BoolTensor:
        done = (input_ids.shape[1] - self.prompt_length) >= self.limits
        return done.to(input_ids.device)


def row_sampling(temperature: list[float], top_k: list[int], top_p: list[float]
                 ) -> tuple[RowSamplingLogitsProcessor | None, dict[str, Any]]:
    """(a processor to append, generate's sampling kwargs): generate's own warpers when every
    row samples alike, else the per-row processor with generate's warpers turned off."""
    settings = set(zip(temperature, top_k, top_p, strict=True))
    if len(settings) == 1:
        t, k, p = settings.pop()
        return None, {"temperature": t, "top_k": k, "top_p": p}
    return (RowSamplingLogitsProcessor(temperature, top_k, top_p),
            {"temperature": 1.0, "top_k": 0, "top_p": 1.0})


def row_stopping(prompt_length: int, max_new_tokens: list[int]) -> StoppingCriteriaList:
    """Stopping criteria for rows with their own lengths (empty when they all agree: generate's
    `max_new_tokens` then does it)."""
    stopping = StoppingCriteriaList()
    if len(set(max_new_tokens)) > 1:
        stopping.append(RowMaxNewTokens(prompt_length, max_new_tokens))
    return stopping
