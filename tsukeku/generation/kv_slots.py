"""The running batch's KV cache (`running_batch.RunningBatch`) in buffers allocated ahead: per
layer, keys and values of shape (rows, heads, columns, head dim) of which rows [0, n) and
columns [start, end) are in use, handed to the model as a transformers cache.

A `DynamicCache` copies the whole cache at every step (`torch.cat` of one new column), again
when rows leave (an index of every row kept) and again when rows join (left padding and a
concatenation). Here a step writes one column in place, a leaving row is replaced by a row
from the end (only the moved rows are copied; the running batch's row order follows), joining
rows are written into free rows, and the left padding no row needs any more is dropped by
moving `start`. The buffers grow by doubling (rows or columns) when full, so a copy of
everything is rare. Columns outside a row's own tokens hold zeros or stale finite values, which
the attention mask hides."""

from __future__ import annotations

from typing import Any

import torch
from transformers.cache_utils import DynamicCache, DynamicLayer

_MARGIN = 32  # columns allocated ahead of the longest row


class SlotLayer(DynamicLayer):
    """One layer: the buffers and the part in use (`keys`/`values` are views of it)."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor):
        super().__init__()
        self.is_initialized = True
        self.device = keys.device
        self.n = keys.shape[0]
        width = keys.shape[2]
        self.buf_k = keys.new_zeros(_grown(self.n), keys.shape[1], width + _MARGIN, keys.shape[3])
        self.buf_v = values.new_zeros(self.buf_k.shape[:3] + values.shape[3:])
        self.buf_k[:self.n, :, :width] = keys
        self.buf_v[:self.n, :, :width] = values
        self.start, self.end = 0, width
        self._views()

    def _views(self) -> None:
        self.keys = self.buf_k[:self.n, :, self.start:self.end]
        self.values = self.buf_v[:self.n, :, self.start:self.end]

    def get_seq_length(self) -> int:
        return self.end - self.start

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any,
               **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        new = key_states.shape[2]
        if self.end + new > self.buf_k.shape[2]:
            self._relayout(self.buf_k.shape[0], self.get_seq_length() + new + _MARGIN, 0)
        self.buf_k[:self.n, :, self.end:self.end + new] = key_states
        self.buf_v[:self.n, :, self.end:self.end + new] = value_states
        self.end += new
        self._views()
        return self.keys, self.values

    def add_rows(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Rows joining (already one per row), right-aligned with the running rows; the width
        grows to the longer of both."""
        m, width = keys.shape[0], keys.shape[2]
        if self.n + m > self.buf_k.shape[0] or width > self.end:
            self._relayout(_grown(self.n + m), max(width, self.get_seq_length()) + _MARGIN,
                           max(0, width - self.get_seq_length()))
        self.start = min(self.start, self.end - width)
        rows = slice(self.n, self.n + m)
        for buf, new in ((self.buf_k, keys), (self.buf_v, values)):
            buf[rows, :, self.start:self.end - width] = 0
            buf[rows, :, self.end - width:self.end] = new
        self.n += m
        self._views()

    def move_rows(self, src: torch.Tensor, dst: torch.Tensor, n: int) -> None:
        """Rows `src` are copied to rows `dst`; then only the first `n` rows are in use."""
        if len(src):
            cols = slice(self.start, self.end)
            self.buf_k[dst, :, cols] = self.buf_k[src, :, cols]
            self.buf_v[dst, :, cols] = self.buf_v[src, :, cols]
        self.n = n
        self._views()

    def drop_columns(self, first: int) -> None:
        self.start += first
        self._views()

    def _relayout(self, rows: int, columns: int, left: int) -> None:
        """New buffers of `rows` × `columns`, the part in use copied to start at `left`."""
        width = self.get_seq_length()
        shape = (rows, self.buf_k.shape[1], columns, self.buf_k.shape[3])
        for name in ("buf_k", "buf_v"):
            old = getattr(self, name)
            buf = old.new_zeros(shape[:3] + old.shape[3:])
            buf[:self.n, :, left:left + width] = old[:self.n, :, self.start:self.end]
            setattr(self, name, buf)
        self.start, self.end = left, left + width


class KVSlots:
    """Every layer's `SlotLayer`, and the cache object the model is given."""

    def __init__(self, prefilled: Any, row_of: torch.Tensor):
        self.cache = prefilled  # the prefill's own DynamicCache, its layers replaced
        self.cache.layers = [SlotLayer(layer.keys.index_select(0, row_of),
                                       layer.values.index_select(0, row_of))
                             for layer in prefilled.layers]

    @property
    def layers(self) -> list[SlotLayer]:
        return self.cache.layers

    @torch.inference_mode()
    def add(self, prefilled: DynamicCache, row_of: torch.Tensor) -> None:
        for layer, new in zip(self.layers, prefilled.layers, strict=True):
            layer.add_rows(new.keys.index_select(0, row_of), new.values.index_select(0, row_of))

    @torch.inference_mode()  # the buffers are inference tensors (made by the model's forward)
    def keep(self, src: list[int], dst: list[int], n: int) -> None:
        device = self.layers[0].buf_k.device
        s = torch.tensor(src, dtype=torch.long, device=device)
        d = torch.tensor(dst, dtype=torch.long, device=device)
        for layer in self.layers:
            layer.move_rows(s, d, n)

    @torch.inference_mode()
    def drop_columns(self, first: int) -> None:
        for layer in self.layers:
            layer.drop_columns(first)


def _grown(rows: int) -> int:
    return max(8, 2 * rows)
