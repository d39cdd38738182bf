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
