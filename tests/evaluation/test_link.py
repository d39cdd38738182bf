"""Next-verse selection: the ranking math, distractor sampling, and real scoring on the tiny base."""

import math

import numpy as np
import pytest

from tsukeku.evaluation import link

KANA = "かきくけこさしすせそたちつてと"


def _kana(i: int) -> str:
    return "つけ" + KANA[i // len(KANA)] + KANA[i % len(KANA)]


def _rec(i: int, form: str, text: str | None = None, reading: str | None = None) -> dict:
    return {"id": f"r{i}", "previous": f"前句{i}", "next": text or f"付句{i}", "next_form": form,
            "next_reading": reading or _kana(i), "context": []}


# -- ranking math -------------------------------------------------------------------------------

@pytest.mark.parametrize(("scores", "hit", "rr"), [
    ([0.0, -1.0, -2.0], 1.0, 1.0),        # true one best
    ([-1.5, -1.0, -2.0], 0.0, 0.5),       # second
    ([-3.0, -1.0, -2.0], 0.0, 1 / 3),     # last
    ([-1.0, -1.0, -2.0], 0.5, 0.75),      # tied at the top with one: half a hit, mean of 1 and 1/2
    ([-1.0, -1.0, -1.0], 1 / 3, (1 + 1 / 2 + 1 / 3) / 3),  # all alike: chance
    ([float("nan"), -9.0, -8.0], 0.0, 1 / 3),  # no likelihood ranks last
])
def test_outcome(scores, hit, rr):
    got_hit, got_rr = link.outcome(scores)
    assert got_hit == pytest.approx(hit) and got_rr == pytest.approx(rr)


def test_outcome_of_another_position():
    assert link.outcome([-5.0, -1.0, -3.0], true=1) == (1.0, 1.0)


def test_fake_scorer_gives_known_recall_and_mrr():
    """A fake scorer with known scores: true first on items 0 and 2, second on 1, third on 3."""
    class Fake:
        ranks = {"前句0": 1, "前句1": 2, "前句2": 1, "前句3": 3}

        def score(self, previous, candidates, *, form, context=(), adapter=None, max_length=256):
            r = self.ranks[previous]  # the true candidate (index 0) gets rank r
            others = [-float(k) for k in range(1, len(candidates) + 1) if k != r]
            return [-float(r), *others[: len(candidates) - 1]]

    items = [link.LinkItem(_rec(i, "7-7"), [f"付句{i}", "a", "b", "c"]) for i in range(4)]
    result = link.score_items(Fake(), items)
    assert result.hits == [1.0, 0.0, 1.0, 0.0]
    assert result.reciprocal_ranks == pytest.approx([1.0, 0.5, 1.0, 1 / 3])
    summary = result.summary(seed=0)
    assert summary["recall_at_1"] == 0.5 and summary["candidates"] == 4
    assert summary["mrr"] == pytest.approx((1 + 0.5 + 1 + 1 / 3) / 4)
    assert summary["chance_recall_at_1"] == 0.25
    assert 0.0 <= summary["recall_at_1_ci_low"] <= 0.5 <= summary["recall_at_1_ci_high"] <= 1.0
    assert summary["mrr_ci_low"] <= summary["mrr"] <= summary["mrr_ci_high"]


def test_bootstrap_interval():
    values = [1.0] * 30 + [0.0] * 70
    low, high = link.bootstrap_interval(values, seed=3)
    assert (low, high) == link.bootstrap_interval(values, seed=3)  # fixed seed: the same
    assert low < 0.3 < high
    # the normal approximation for a proportion of 0.3 over 100: ±1.96·0.0458 ≈ ±0.09
    assert low == pytest.approx(0.21, abs=0.03) and high == pytest.approx(0.39, abs=0.03)
    assert link.bootstrap_interval([0.5] * 10) == (0.5, 0.5)  # no spread, no width
    assert all(math.isnan(x) for x in link.bootstrap_interval([]))


def test_paired_difference():
    a = link.LinkResult(hits=[1.0, 1.0, 0.0, 1.0], reciprocal_ranks=[1, 1, 0.5, 1], candidates=4)
    b = link.LinkResult(hits=[0.0, 1.0, 0.0, 0.0], reciprocal_ranks=[0.5, 1, 0.5, 0.25], candidates=4)
    d = link.paired_difference(a, b, seed=0)
    assert d["recall_at_1"] == 0.5 and d["mrr"] == pytest.approx(0.3125)
    assert d["recall_at_1_ci_low"] <= 0.5 <= d["recall_at_1_ci_high"]
    with pytest.raises(ValueError):
        link.paired_difference(a, link.LinkResult(hits=[1.0]))


# -- distractors --------------------------------------------------------------------------------

@pytest.fixture
def pool() -> list[dict]:
    recs = [_rec(i, "7-7" if i % 2 else "5-7-5") for i in range(40)]
    recs.append(_rec(40, "7-7", text="付句1", reading=_kana(40)))  # the same 付句 as r1, again
    recs.append(_rec(41, "7-7", text="付句 別", reading=_kana(1)))  # another spelling, same reading
    return recs


def test_distractors_same_kind_same_split_never_the_true_one(pool):
    items = link.link_items(pool[:10], pool, distractors=9, seed=0)
    assert len(items) == 10
    by_text = {r["next"]: r for r in pool}
    for item, rec in zip(items, pool[:10], strict=True):
        assert item.candidates[0] == rec["next"] and item.record is rec
        assert len(item.candidates) == 10 and len(set(item.candidates)) == 10
        for other in item.candidates[1:]:
            assert by_text[other]["next_form"] == rec["next_form"]
            assert other != rec["next"]
    # r1's 付句 appears twice in the split, and once more under another spelling of its
    # reading: none of those is ever its distractor
    one = items[1]
    assert "付句1" not in one.candidates[1:] and "付句 別" not in one.candidates[1:]


def test_distractors_are_deterministic_and_seeded(pool):
    a = link.link_items(pool[:10], pool, seed=0)
    b = link.link_items(pool[:10], pool, seed=0)
    c = link.link_items(pool[:10], pool, seed=1)
    assert [i.candidates for i in a] == [i.candidates for i in b]
    assert [i.candidates for i in a] != [i.candidates for i in c]
    # an item's candidates do not depend on how many items are scored (eval --limit)
    assert [i.candidates for i in link.link_items(pool[:3], pool, seed=0)] == \
        [i.candidates for i in a[:3]]


def test_distractors_fewer_when_the_form_is_rare():
    recs = [_rec(0, "7-7"), _rec(1, "7-7"), _rec(2, "5-7-5"), _rec(3, "7-7")]
    items = link.link_items(recs, recs, distractors=9, seed=0)
    assert [len(i.candidates) for i in items] == [3, 3, 1, 3]


def test_remote_backends_are_not_available():
    class Remote:
        name = "remote"

    entry = link.link_report(Remote(), [link.LinkItem(_rec(0, "7-7"), ["付句0", "x"])])
    assert entry["available"] is False and "log-probabilities" in entry["reason"]
    assert entry["items"] == 1 and entry["candidates"] == 2


# -- real scoring on the tiny base ----------------------------------------------------------------

@pytest.fixture(scope="module")
def backend(tiny_base):
    import torch

    from tsukeku.backends.local import LocalHFBackend

    torch.set_num_threads(1)
    return LocalHFBackend.from_pretrained("base", str(tiny_base))


def test_score_is_the_models_own_likelihood(backend):
    """Each score is the mean log-probability of the 付句's tokens (end marker and eos included)
    after the prompt, as computed here directly from the model's logits, one candidate at a time."""
    import torch

    previous, form = "山寺の 鐘にほどける 霞かな", "7-7"
    candidates = ["畦の小道を 牛のゆく音", "夕べの雲に 鳥の帰りて", "舟をつなげる 岸の柳よ"]
    scores = backend.score(previous, candidates, form=form, context=("春の野に",))
    tok, model, tpl = backend.loaded.tokenizer, backend.loaded.model, backend.template
    prompt = tpl.render(previous, form, ("春の野に",))
    for cand, got in zip(candidates, scores, strict=True):
        p = tok(prompt)["input_ids"]
        t = tok(tpl.target(cand), add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([p + t])).logits[0].float(), -1)
        want = sum(logp[len(p) - 1 + k, t[k]].item() for k in range(len(t))) / len(t)
        assert got == pytest.approx(want, abs=1e-4)
    # batched with other candidates or alone: the same score
    assert backend.score(previous, candidates[1:2], form=form, context=("春の野に",))[0] == \
        pytest.approx(scores[1], abs=1e-5)


def test_score_agrees_with_the_heldout_loss(backend, tiny_base):
    from tsukeku.corpus.bundled import bundled_links
    from tsukeku.evaluation.heldout import heldout_loss

    links = list(bundled_links())[:6]
    records = [{"previous": lk.previous.text, "next": lk.next.text,
                "next_form": "7-7" if len(lk.next.text.split()) == 2 else "5-7-5",
                "context": [v.text for v in lk.context]} for lk in links]
    loss = heldout_loss(backend, records)
    tokens, total = 0, 0.0
    for rec in records:
        score = backend.score(rec["previous"], [rec["next"]], form=rec["next_form"],
                              context=rec["context"])[0]
        n = len(backend.loaded.tokenizer(backend.template.target(rec["next"]),
                                         add_special_tokens=False)["input_ids"]) + 1
        tokens += n
        total += -score * n
    assert tokens == loss["tokens"]
    assert total / tokens == pytest.approx(loss["loss"], rel=1e-5)


def test_link_report_on_the_tiny_base(backend):
    recs = [_rec(i, "7-7", text=t) for i, t in enumerate(
        ["畦の小道を 牛のゆく音", "夕べの雲に 鳥の帰りて", "舟をつなげる 岸の柳よ",
         "軒の雫の 音ぞ絶えせぬ"])]
    items = link.link_items(recs, recs, distractors=3, seed=0)
    entry = link.link_report(backend, items, seed=0)
    assert entry["available"] and entry["items"] == 4 and entry["candidates"] == 4
    assert 0.0 <= entry["recall_at_1"] <= 1.0 and 0.25 <= entry["mrr"] <= 1.0
    # the same figures from the scores themselves
    hits = []
    for item in items:
        s = backend.score(item.record["previous"], item.candidates, form="7-7")
        hits.append(float(np.argmax(s) == 0))
    assert entry["recall_at_1"] == pytest.approx(np.mean(hits))
    # beside them, the calibrated (PMI) ranking's figures
    _, pmi = link.score_calibrated(backend, items)
    assert entry["pmi"]["items"] == 4
    assert entry["pmi"]["recall_at_1"] == pytest.approx(pmi.summary(seed=0)["recall_at_1"])
    assert entry["pmi"]["mrr"] == pytest.approx(pmi.summary(seed=0)["mrr"])


def test_score_switches_adapters_on_a_shared_base(tiny_base, tmp_path):
    """A tuned model and the base on one copy of the weights: each scores as itself, and
    `adapter="__base__"` scores as the base — the switch the held-out loss uses."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from tsukeku.backends.registry import registry_from_dict

    torch.manual_seed(0)
    config = LoraConfig(r=8, lora_alpha=64, target_modules=["query_key_value"],
                        init_lora_weights=False)  # random, so that the adapter changes scores
    get_peft_model(AutoModelForCausalLM.from_pretrained(str(tiny_base)), config) \
        .save_pretrained(str(tmp_path / "run" / "adapter"))
    registry = registry_from_dict({"models": {
        "tuned": {"kind": "local", "base": str(tiny_base), "adapter": str(tmp_path / "run"),
                  "template": "completion"},
        "base": {"kind": "local", "base": str(tiny_base)},
    }})
    tuned, base = registry.get("tuned"), registry.get("base")
    assert tuned.loaded is base.loaded  # one copy of the weights
    args = ("山寺の 鐘にほどける 霞かな", ["畦の小道を 牛のゆく音", "夕べの雲に 鳥の帰りて"])
    plain = base.score(*args, form="7-7")
    adapted = tuned.score(*args, form="7-7")
    assert all(abs(a - p) > 1e-3 for a, p in zip(adapted, plain, strict=True))
    assert tuned.score(*args, form="7-7", adapter="__base__") == pytest.approx(plain, abs=1e-6)
    assert base.score(*args, form="7-7") == pytest.approx(plain, abs=1e-6)

