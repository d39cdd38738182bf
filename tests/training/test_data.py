import hashlib
import json

import pytest

from tsukeku.errors import DataError
from tsukeku.training import data as D


@pytest.fixture(scope="module")
def tok(tiny_base):
    from tsukeku.models.loader import load_tokenizer

    return load_tokenizer(tiny_base)


def test_prompt_tokens_are_masked_and_target_ends_with_eos(tok, small_dataset):
    template = D.load_template(small_dataset)
    rec = D.read_split(small_dataset, "train")[1]  # a link with context
    ex, cut = D.encode_example(tok, template, rec, max_length=256)
    assert not cut
    seat = D.training_seat(rec)  # the 付句's labels for half of the links
    prompt = template.render(rec["previous"], rec["next_form"], rec["context"], seat=seat)
    assert (f"座：{rec['season']}" in prompt) == (seat is not None)
    prompt_ids = tok(prompt)["input_ids"]
    target_ids = tok(template.target(rec["next"]), add_special_tokens=False)["input_ids"]
    assert ex["input_ids"] == prompt_ids + target_ids + [tok.eos_token_id]
    n = len(prompt_ids)
    assert ex["labels"][:n] == [D.IGNORE] * n
    assert ex["labels"][n:] == target_ids + [tok.eos_token_id]
    assert tok.decode(ex["labels"][n:-1]).strip() == rec["next"]


def test_collator_pads_dynamically_with_masked_labels(tok, small_dataset):
    template = D.load_template(small_dataset)
    enc = D.encode_split(tok, template, D.read_split(small_dataset, "train"), 256)
    batch_examples = enc.examples[:4]
    batch = D.make_collator(tok)(batch_examples)
    longest = max(len(e["input_ids"]) for e in batch_examples)
    assert batch["input_ids"].shape == (4, longest)  # to the longest of the batch, not max_length
    for i, e in enumerate(batch_examples):
        n = len(e["input_ids"])
        assert batch["attention_mask"][i, :n].all() and not batch["attention_mask"][i, n:].any()
        assert (batch["input_ids"][i, n:] == tok.pad_token_id).all()
        assert batch["labels"][i, :n].tolist() == e["labels"]
        assert (batch["labels"][i, n:] == D.IGNORE).all()


def test_truncation_keeps_the_target(tok, small_dataset):
    template = D.load_template(small_dataset)
    rec = D.read_split(small_dataset, "train")[1]
    full, _ = D.encode_example(tok, template, rec, 256)
    n_target = sum(1 for x in full["labels"] if x != D.IGNORE)
    ex, cut = D.encode_example(tok, template, rec, n_target + 3)
    assert cut and len(ex["input_ids"]) == n_target + 3
    assert ex["labels"][3:] == full["labels"][-n_target:]
    assert ex["input_ids"] == full["input_ids"][-(n_target + 3):]


def test_length_grouped_sampler_is_replayable_per_epoch():
    lengths = [(i * 37) % 50 + 5 for i in range(200)]
    s = D.LengthGroupedEpochSampler(lengths, batch_size=8, seed=3)
    s.set_epoch(1)
    first = list(s)
    s.set_epoch(0)
    other = list(s)
    s.set_epoch(1)
    assert list(s) == first and first != other and sorted(first) == list(range(200))
    # batches are far more uniform in length than a random order would make them
    def waste(order):
        return sum(max(lengths[i] for i in order[k:k + 8]) * len(order[k:k + 8])
                   - sum(lengths[i] for i in order[k:k + 8]) for k in range(0, 200, 8))
    shuffled = list(D.SeededRandomSampler(lengths, 8, seed=3))
    assert waste(first) < 0.3 * waste(shuffled)


def _packed_and_padded(tok, dataset, n, max_length):
    template = D.load_template(dataset)
    examples = D.encode_split(tok, template, D.read_split(dataset, "train"), max_length).examples[:n]
    return examples, D.PackedCollator(tok.pad_token_id, max_length)(examples), D.make_collator(tok)(examples)


def test_packed_rows_hold_every_example_once_within_max_length(tok, bundled_dataset):
    examples, packed, _ = _packed_and_padded(tok, bundled_dataset, 16, 128)
    assert set(packed) == {"input_ids", "labels", "position_ids"}  # no attention mask: see PackedCollator
    rows, width = packed["input_ids"].shape
    real = sum(len(e["input_ids"]) for e in examples)
    assert width <= 128 and rows < 16 and rows * width < 16 * 128 / 1.5
    found = []
    for r in range(rows):
        pos = packed["position_ids"][r].tolist()
        starts = [i for i, p in enumerate(pos) if p == 0] + [width]
        for a, b in zip(starts, starts[1:], strict=False):
            found.append(packed["input_ids"][r, a:b].tolist())
    ids = sorted(e["input_ids"] for e in examples)
    fillers = [f for f in found if f not in ids]
    assert sorted(f for f in found if f in ids) == ids
    assert all(set(f) == {tok.pad_token_id} for f in fillers)
    assert (packed["input_ids"] != tok.pad_token_id).sum().item() == real
    assert (packed["labels"] != D.IGNORE).sum().item() == sum(
        sum(1 for x in e["labels"] if x != D.IGNORE) for e in examples)


def test_packed_batch_has_the_loss_and_gradient_of_the_padded_batch(tiny_base, tok, bundled_dataset):
    """The point of packing: the same examples, the same loss and gradient, less compute. A leak
    across examples (a wrong mask) or a label shifted across a boundary would change both."""
    import torch

    from tsukeku.models import load_model

    model, _ = load_model(tiny_base, trainable=True)
    _, packed, padded = _packed_and_padded(tok, bundled_dataset, 12, 128)
    grads = []
    for batch in (packed, padded):
        model.zero_grad()
        loss = model(**batch).loss
        loss.backward()
        grads.append((loss.item(), torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])))
    (lp, gp), (lr, gr) = grads
    assert lp == pytest.approx(lr, abs=1e-5)
    assert torch.allclose(gp, gr, atol=1e-5, rtol=1e-4)
    # the same rows with one example's first token changed: only that example's logits move
    ids = packed["input_ids"].clone()
    starts = (packed["position_ids"][0] == 0).nonzero().flatten().tolist()
    assert len(starts) >= 2
    ids[0, starts[1]] = (ids[0, starts[1]] + 1) % tok.vocab_size
    with torch.no_grad():
        a = model(input_ids=packed["input_ids"], position_ids=packed["position_ids"]).logits[0]
        b = model(input_ids=ids, position_ids=packed["position_ids"]).logits[0]
    moved = (a - b).abs().amax(-1) > 1e-6
    assert not moved[:starts[1]].any() and moved[starts[1]]


def test_missing_dataset_and_files(tmp_path, small_dataset):
    with pytest.raises(DataError, match="tsukeku data build"):
        D.check_dataset_dir(tmp_path / "nope")
    (tmp_path / "train.jsonl").write_text("")
    with pytest.raises(DataError, match="validation.jsonl"):
        D.check_dataset_dir(tmp_path)
    (tmp_path / "train.jsonl").write_text('{"previous": "a"}\n')
    with pytest.raises(DataError, match="lacks next"):
        D.read_split(tmp_path, "train")
    (tmp_path / "train.jsonl").write_text("{not json\n")
    with pytest.raises(DataError, match="not valid JSON"):
        D.read_split(tmp_path, "train")


def test_manifest_hashes_the_files(tok, small_dataset):
    template = D.load_template(small_dataset)
    enc = {"train": D.encode_split(tok, template, D.read_split(small_dataset, "train"), 128)}
    m = D.manifest(small_dataset, enc, template.name).to_dict()
    files = {f["name"]: f for f in m["files"]}
    raw = (small_dataset / "train.jsonl").read_bytes()
    assert files["train.jsonl"]["sha256"] == hashlib.sha256(raw).hexdigest()
    assert files["train.jsonl"]["lines"] == len(D.read_split(small_dataset, "train"))
    assert m["splits"]["train"]["examples"] == files["train.jsonl"]["lines"]
    assert json.loads(json.dumps(m)) == m
