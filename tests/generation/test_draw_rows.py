"""The engine's batched sampler (`sampling.draw_rows`) draws from exactly the distribution of
`RowSamplingLogitsProcessor` + softmax + multinomial (temperature, top-k, top-p per row), never
outside it, and a row with its own generator does not depend on its batch-mates."""

from __future__ import annotations

import torch

from tsukeku.generation.sampling import RowSamplingLogitsProcessor, draw_rows

LOGITS = torch.tensor([[2.0, 1.5, 1.0, 0.5, 0.0, -0.5, float("-inf"), -3.0]])
SETTINGS = [(1.0, 0, 0.7), (0.5, 0, 0.95), (1.3, 3, 1.0), (0.8, 4, 0.8), (1.0, 0, 1.0)]


def _expected(t: float, k: int, p: float) -> torch.Tensor:
    return RowSamplingLogitsProcessor([t], [k], [p])(None, LOGITS.clone()).softmax(-1)[0]


def test_draws_follow_the_processors_distribution():
    torch.manual_seed(0)
    draws = 20000
    for t, k, p in SETTINGS:
        expected = _expected(t, k, p)
        scores = LOGITS.expand(draws, -1).clone()
        tokens = draw_rows(scores, [t] * draws, [k] * draws, [p] * draws, [None] * draws)
        freq = torch.bincount(tokens, minlength=LOGITS.shape[1]).float() / draws
        # never a token the processor removes; the rest within sampling noise
        assert bool((freq[expected == 0] == 0).all()), (t, k, p, freq, expected)
        assert float((freq - expected).abs().max()) < 0.015, (t, k, p, freq, expected)


def test_mixed_rows_in_one_call_keep_their_own_settings():
    torch.manual_seed(1)
    reps = 4000
    rows = SETTINGS * reps
    scores = LOGITS.expand(len(rows), -1).clone()
    t, k, p = (list(x) for x in zip(*rows, strict=True))
    tokens = draw_rows(scores, t, k, p, [None] * len(rows)).view(reps, len(SETTINGS))
    for j, setting in enumerate(SETTINGS):
        expected = _expected(*setting)
        freq = torch.bincount(tokens[:, j], minlength=LOGITS.shape[1]).float() / reps
        assert bool((freq[expected == 0] == 0).all()), (setting, freq)
        assert float((freq - expected).abs().max()) < 0.03, (setting, freq, expected)


def test_a_row_with_its_own_generator_ignores_the_others():
    def run(n_other: int, other_seed: int) -> list[int]:
        torch.manual_seed(other_seed)
        g = torch.Generator().manual_seed(123)
        out = []
        for _ in range(50):
            scores = LOGITS.expand(1 + n_other, -1).clone()
            gens = [g] + [None] * n_other
            out.append(int(draw_rows(scores, [0.9] * (1 + n_other), [0] * (1 + n_other),
                                     [0.8] * (1 + n_other), gens)[0]))
        return out

    alone = run(0, 5)
    assert alone == run(7, 99) == run(3, 1)
    assert len(set(alone)) > 1  # it does sample
