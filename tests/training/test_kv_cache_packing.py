"""Packed batches on a base whose config has the KV cache on (rinna, Llama ship use_cache: true)."""

import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

from tsukeku.training.trainer import without_kv_cache


def _model(use_cache: bool):
    torch.manual_seed(0)
    config = GPTNeoXConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                           intermediate_size=64, max_position_embeddings=64, use_cache=use_cache,
                           attn_implementation="sdpa")
    return GPTNeoXForCausalLM(config).train()


def _second_example_logits(model, first_token: int):
    # one packed row: example A (5 tokens), then example B (4 tokens), positions restarting at B
    ids = torch.tensor([[first_token, 5, 6, 7, 8, 9, 10, 11, 12]])
    positions = torch.tensor([[0, 1, 2, 3, 4, 0, 1, 2, 3]])
    with torch.no_grad():
        return model(input_ids=ids, position_ids=positions).logits[0, 5:]


def test_packed_examples_stay_apart_while_training_without_cache():
    model = _model(use_cache=True)
    with without_kv_cache(model):
        a = _second_example_logits(model, 3)
        b = _second_example_logits(model, 4)
    torch.testing.assert_close(a, b)
    assert model.config.use_cache is True  # restored for merging and serving


def test_with_the_cache_on_packed_examples_leak():
    # the reason for without_kv_cache: this is what training on a published config did
    model = _model(use_cache=True)
    a = _second_example_logits(model, 3)
    b = _second_example_logits(model, 4)
    assert not torch.allclose(a, b)
