"""The running batch of the continuous-batching engine (`tsukeku.generation.engine`): its rows,
their KV cache (`kv_slots.KVSlots`: buffers allocated ahead, rows left-padded to a common
length) and attention mask, and the model calls on them — the prefill of rows joining, one
decode step of the rows running, the merge of both, the draw of each row's next token, and
the selection of the rows that stay (a row leaving is replaced by one from the end, so the
order of `rows` changes; the cache then loses the columns no remaining row needs). Callers
hold the model's lock."""

from __future__ import annotations

import contextlib
from typing import Any

from tsukeku.generation.composer import Composer, _device
from tsukeku.generation.engine_jobs import Row
from tsukeku.generation.kv_slots import KVSlots
from tsukeku.generation.loaded_model import BASE_ADAPTER


class RunningBatch:
    """The rows one `Composer`'s model decodes together, and their cache."""

    def __init__(self, composer: Composer):
        self.composer = composer
        self.rows: list[Row] = []
        self.last: list[int] = []  # the token each row feeds next
        self._cache: KVSlots | None = None
        self._mask: Any = None  # (rows, columns) long: 1 where a row has a real token

    def reset(self) -> None:
        self.rows = []
        self._cache = self._mask = None
        self.last = []

    def _forward_kwargs(self, rows: list[Row]) -> tuple[Any, dict[str, Any]]:
        loaded = self.composer.loaded
        if not loaded.is_peft:
            return contextlib.nullcontext(), {}
        names = [r.adapter or BASE_ADAPTER for r in rows]
        if len(set(names)) == 1:
            return loaded.using(names[0]), {}
        return contextlib.nullcontext(), {"adapter_names": names}

    def prefill(self, rows: list[Row]) -> tuple[Any, Any, Any, Any]:
        """Logits of the first new token of each row, and the cache, attention mask and row
        index (`row_of`: which of them each row takes) of the distinct (prompt, adapter) pairs,
        each computed once; `merge` copies them to their rows."""
        import torch

        tok = self.composer.tokenizer
        device = _device(self.composer.model)
        keys = [(r.job.plan.prompt, r.adapter) for r in rows]  # type: ignore[union-attr]
        index = {k: i for i, k in enumerate(dict.fromkeys(keys))}
        distinct = list(index)
        enc = tok([k[0] for k in distinct], return_tensors="pt", padding=True,
                  padding_side="left").to(device)
        mask = enc["attention_mask"].long()
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        ctx, extra = self._forward_kwargs([rows[keys.index(k)] for k in distinct])
        with ctx:
            out = self.composer.model(input_ids=enc["input_ids"], attention_mask=mask,
                                      position_ids=positions, use_cache=True, logits_to_keep=1,
                                      **extra)
        row_of = torch.tensor([index[k] for k in keys], device=device)
        lengths = mask.sum(-1).tolist()
        for row, k in zip(rows, keys, strict=True):
            row.pos = int(lengths[index[k]])
        return out.logits[:, -1, :].index_select(0, row_of), _cache_of(out), mask, row_of

    def decode(self) -> Any:
        """Logits of the next token of every running row (each fed its `last` token)."""
        import torch

        device = _device(self.composer.model)
        ids = torch.tensor(self.last, device=device).unsqueeze(1)
        pos = torch.tensor([r.pos for r in self.rows], device=device).unsqueeze(1)
        ones = torch.ones(len(self.rows), 1, dtype=self._mask.dtype, device=device)
        self._mask = torch.cat([self._mask, ones], dim=1)
        ctx, extra = self._forward_kwargs(self.rows)
        with ctx:
            out = self.composer.model(input_ids=ids, attention_mask=self._mask, position_ids=pos,
                                      cache=self._cache.cache, use_cache=True, **extra)
        for row in self.rows:
            row.pos += 1
        return out.logits[:, -1, :]

    def merge(self, rows: list[Row], cache: Any, mask: Any, row_of: Any) -> None:
        """New rows join the running batch: the prefilled prompts (`prefill`) copied to their
        rows after the running ones, both sides left-padded to one length."""
        import torch

        self.rows += rows
        mask = mask.index_select(0, row_of)
        if self._cache is None:
            self._cache, self._mask = KVSlots(cache, row_of), mask
            return
        self._cache.add(cache, row_of)
        width = max(self._mask.shape[1], mask.shape[1])
        self._mask = torch.cat([_pad_left(self._mask, width), _pad_left(mask, width)])

    def sample(self, logits: Any) -> tuple[list[int], list[float]]:
        """Each row's next token (inside its form, with its sampling settings and generator)
        and its log-probability under the model."""
        import torch

        from tsukeku.generation.sampling import draw_rows

        rows = self.rows
        raw = logits.float()
        scores = raw
        if any(r.constraint is not None for r in rows):
            auto = self.composer.automaton()
            sids = [r.constraint.states[0] if r.constraint is not None else auto.ended
                    for r in rows]
            scores = auto.masked(sids, scores)
        t, k, p = zip(*(r.sampling for r in rows), strict=True)
        tokens = draw_rows(scores, list(t), list(k), list(p), [r.generator for r in rows])
        lp = torch.log_softmax(raw, -1).gather(1, tokens.unsqueeze(1))[:, 0]
        return tokens.tolist(), lp.tolist()

    def select(self, keep: list[int]) -> None:
        """Only the rows at `keep` stay (with their cache rows and `last` tokens): each row
        leaving from the first len(keep) places is replaced by a row kept from further on (so
        only those are copied); columns no remaining row attends to go too."""
        import torch

        if not keep:
            self.reset()
            return
        n = len(keep)
        kept = set(keep)
        holes = [j for j in range(n) if j not in kept]
        movers = [i for i in keep if i >= n]
        order = list(range(n))
        for hole, mover in zip(holes, movers, strict=True):
            order[hole] = mover
        self.rows = [self.rows[i] for i in order]
        self.last = [self.last[i] for i in order]
        assert self._cache is not None
        self._cache.keep(movers, holes, n)
        mask = self._mask.index_select(0, torch.tensor(order, device=self._mask.device))
        used = mask.any(0).nonzero()
        first = int(used[0]) if len(used) else 0
        if first > 0:
            mask = mask[:, first:]
            self._cache.drop_columns(first)
        self._mask = mask


def _cache_of(out: Any) -> Any:
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


def _pad_left(t: Any, width: int) -> Any:
    import torch.nn.functional as F  # noqa: N812

    short = width - t.shape[1]
    return F.pad(t, [short, 0]) if short > 0 else t
