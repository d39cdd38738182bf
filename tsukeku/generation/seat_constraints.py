"""Seat-constrained decoding: a season word forced into a ku, inside the mora automaton.

`SeatForcingLogitsProcessor` runs right after `MoraConstraintLogitsProcessor` in the same
generate call and reads its row states. A row given `Forcing(ku, ids)` writes the token ids of a
season word at the start of that ku:

- for the first ku, from the first generated token (名月や …);
- for a later ku, once the ku before it is exactly full: while that ku is being written the
  tokens holding the space between ku are masked (so the row cannot slip past the point by
  writing "…す 夏" in one token), and when the ku is full the word's tokens — the space first —
  are forced one by one.

The ids were checked against the automaton from that very state (seat_words.spell), so they
never break the form; the rest of the verse is the model's, under the mora constraint. A forced
token gets a finite score and every other token −inf, whatever the sampling warpers did before.
A row that ends or dies before its word was written is counted (`missed`); the composer's final
checks (classifier and rule checker) decide in every case.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import LogitsProcessor

from tsukeku.generation.constraints import KuState, MoraConstraintLogitsProcessor

WAIT, FORCING, DONE, MISSED = "wait", "forcing", "done", "missed"


@dataclass(frozen=True, slots=True)
class Forcing:
    ku: int  # 0-based ku the word opens
    ids: tuple[int, ...]  # its tokens (the space first, for a ku after the first)
    word: str = ""


class SeatForcingLogitsProcessor(LogitsProcessor):
    """Forces each row's season word (see the module doc). `forcings[i]` None: row i is free."""

    def __init__(self, mora: MoraConstraintLogitsProcessor, forcings: list[Forcing | None]):
        self.mora = mora
        self.forcings = forcings
        self.phase = [WAIT if f is not None else DONE for f in forcings]
        self.pos = [0] * len(forcings)
        sp = torch.from_numpy(mora.automaton.table.sp.copy())
        self._space = torch.zeros(mora.automaton.vocab_size, dtype=torch.bool)
        self._space[: sp.shape[0]] = sp
        self._space_on: dict[torch.device, torch.Tensor] = {}

    @property
    def written(self) -> list[bool]:
        """Per row: whether its word was written in full (rows without one: True)."""
        return [p == DONE for p in self.phase]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        auto = self.mora.automaton
        force: dict[int, int] = {}
        no_space: list[int] = []
        for i, f in enumerate(self.forcings):
            phase = self.phase[i]
            if f is None or phase in (DONE, MISSED):
                continue
            if phase == FORCING:
                if self.pos[i] < len(f.ids):
                    force[i] = f.ids[self.pos[i]]
                    self.pos[i] += 1
                else:
                    self.phase[i] = DONE
                continue
            key = auto.key(self.mora.states[i])
            if not isinstance(key, KuState):  # ended or dead before the word
                self.phase[i] = MISSED
                continue
            if f.ku == 0 and key.ku == 0 and not key.started:
                ready = True
            elif key.ku < f.ku - 1:
                continue  # earlier ku: written freely
            elif f.ku > 0 and key.ku == f.ku - 1:
                ready = not key.pending and key.morae >= key.targets[key.ku]
                if not ready:
                    no_space.append(i)
            else:
                self.phase[i] = MISSED
                continue
            if ready:
                self.phase[i] = FORCING
                force[i] = f.ids[0]
                self.pos[i] = 1
        if no_space:
            space = self._space_on.get(scores.device)
            if space is None:
                space = self._space_on[scores.device] = self._space.to(scores.device)
            vocab = scores.shape[-1]
            rows = torch.tensor(no_space, device=scores.device)
            masked = scores[rows].masked_fill(space[:vocab].unsqueeze(0), float("-inf"))
            # a row left with nothing to write keeps its scores (the final checks judge it)
            alive = torch.isfinite(masked).any(dim=-1)
            scores[rows[alive]] = masked[alive]
        if force:
            rows = torch.tensor(list(force), device=scores.device)
            ids = torch.tensor(list(force.values()), device=scores.device)
            scores[rows] = float("-inf")
            scores[rows, ids] = 0.0
        return scores
