"""The calibrated (PMI) ranking of next-verse selection: conditional minus neutral score."""

import pytest

from tsukeku.evaluation import link


class Typical:
    """A fake scorer whose conditional score is a candidate's typicality plus a bonus for the
    true 付句 (its own 前句 named in it) that is smaller than the typicality gaps: plain ranking
    follows typicality, PMI only the bonus."""

    typical = {"付句0": -3.0, "付句1": -2.0, "付句2": -1.0}
    calls: list[tuple[str, tuple[str, ...]]]

    def __init__(self):
        self.calls = []

    def score(self, previous, candidates, *, form, context=(), adapter=None, max_length=256):
        self.calls.append((previous, tuple(candidates)))
        bonus = {f"付句{previous[-1]}": 0.5} if previous else {}
        return [self.typical[c] + bonus.get(c, 0.0) for c in candidates]


def _items() -> list[link.LinkItem]:
    texts = ["付句0", "付句1", "付句2"]
    return [link.LinkItem({"previous": f"前句{i}", "next": t, "next_form": "7-7", "context": []},
                          [t, *(o for o in texts if o != t)]) for i, t in enumerate(texts)]


def test_pmi_takes_out_typicality():
    fake = Typical()
    plain, pmi = link.score_calibrated(fake, _items())
    assert plain.hits == [0.0, 0.0, 1.0]  # the most typical candidate always wins
    assert pmi.hits == [1.0, 1.0, 1.0]  # what the 前句 adds picks the true one
    assert pmi.scores[0] == pytest.approx([0.5, 0.0, 0.0])
    # the neutral prompt: the empty 前句, each distinct candidate scored once
    neutral = [c for c in fake.calls if c[0] == link.NEUTRAL_PREVIOUS]
    assert len(neutral) == 1 and sorted(neutral[0][1]) == ["付句0", "付句1", "付句2"]


def test_neutral_scores_once_per_candidate_and_form():
    fake = Typical()
    items = _items() + [link.LinkItem({"previous": "前句0", "next": "付句0", "next_form": "5-7-5",
                                       "context": []}, ["付句0", "付句1"])]
    neutral = link.neutral_scores(fake, items)
    assert neutral == {("付句0", "7-7"): -3.0, ("付句1", "7-7"): -2.0, ("付句2", "7-7"): -1.0,
                       ("付句0", "5-7-5"): -3.0, ("付句1", "5-7-5"): -2.0}


def test_calibration_needs_the_same_items():
    plain = link.score_items(Typical(), _items())
    with pytest.raises(ValueError):
        link.calibrated(plain, _items()[:2], {})


def test_pmi_on_the_tiny_base(tiny_base):
    """On a real model the PMI score is the conditional score minus the score after the template
    with an empty 前句."""
    import torch

    from tsukeku.backends.local import LocalHFBackend

    torch.set_num_threads(1)
    backend = LocalHFBackend.from_pretrained("base", str(tiny_base))
    texts = ["畦の小道を 牛のゆく音", "夕べの雲に 鳥の帰りて", "舟をつなげる 岸の柳よ"]
    items = [link.LinkItem({"previous": "山寺の 鐘にほどける 霞かな", "next": texts[0],
                            "next_form": "7-7", "context": []}, texts)]
    plain, pmi = link.score_calibrated(backend, items)
    empty = backend.score("", texts, form="7-7")
    assert pmi.scores[0] == pytest.approx([p - e for p, e in zip(plain.scores[0], empty,
                                                                  strict=True)], abs=1e-5)
    assert plain.scores[0] != pytest.approx(pmi.scores[0])
