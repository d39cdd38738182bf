"""The held-out loss (target_loss) is the per-example NLLs (target_nll) summed and divided once,
and both agree with transformers' own causal-LM loss on each example."""

from __future__ import annotations

import math

import pytest


@pytest.fixture(scope="module")
def scored(tiny_base, bundled_dataset):
    from tsukeku.models.loader import load_model
    from tsukeku.training.data import encode_split, load_template, make_collator, read_split

    model, tok = load_model(str(tiny_base), device="cpu", dtype="fp32")
    records = read_split(bundled_dataset, "validation")[:24]
    encoded = encode_split(tok, load_template(bundled_dataset), records, 128)
    return model, encoded.examples, make_collator(tok)


def test_target_loss_is_the_summed_nll_over_the_target_tokens(scored):
    from tsukeku.training.evaluate import target_loss, target_nll

    model, examples, collator = scored
    nll = target_nll(model, examples, collator, batch_size=5)
    result = target_loss(model, examples, collator, batch_size=5)
    tokens = sum(n for _, n in nll)
    assert result["tokens"] == tokens > 0 and result["examples"] == len(examples)
    assert result["loss"] == pytest.approx(sum(t for t, _ in nll) / tokens, rel=1e-9)
    assert result["perplexity"] == pytest.approx(math.exp(result["loss"]))
    # the batching (padding, order by length) changes nothing beyond float32 rounding
    for batch_size in (1, 16):
        assert target_loss(model, examples, collator, batch_size)["loss"] == \
            pytest.approx(result["loss"], rel=1e-6)


def test_each_example_scores_as_transformers_own_loss(scored):
    """An independent reference: the model's own shifted cross-entropy (mean over the labelled
    tokens), one example at a time (no padding), times its token count."""
    import torch

    from tsukeku.training.evaluate import target_nll

    model, examples, collator = scored
    nll = target_nll(model, examples, collator, batch_size=7)
    for example, (total, count) in zip(examples, nll, strict=True):
        batch = collator([example])
        with torch.no_grad():
            mean = model(**batch).loss.item()
        assert count == int((batch["labels"][:, 1:] != -100).sum())
        assert total == pytest.approx(mean * count, rel=1e-5)


def test_no_examples_no_loss():
    from tsukeku.training.evaluate import target_loss

    result = target_loss(None, [], None)
    assert math.isnan(result["loss"]) and result["tokens"] == result["examples"] == 0
