import math

import numpy as np
import pytest

from tsukeku.evaluation.metrics import copy_rate, distinct_n, form_adherence, percentile, self_bleu


def test_form_adherence_counts_exact_and_one_extra_mora():
    got = [[7, 7], [8, 7], [6, 7], [8, 8], [5, 7, 5]]
    want = [[7, 7], [7, 7], [7, 7], [7, 7], [5, 7, 5]]
    res = form_adherence(got, want)
    assert res == {"exact": 2 / 5, "jiamari_le_1": 3 / 5, "n": 5}


def test_form_adherence_wrong_number_of_ku_is_not_adherent():
    assert form_adherence([[7, 7, 1]], [[7, 7]])["jiamari_le_1"] == 0.0


def test_copy_rate_ignores_spaces():
    assert copy_rate(["あき の", "はる"], ["あきの", "なつ"]) == 0.5
    assert copy_rate([], ["x"]) == 0.0


def test_distinct_n():
    assert distinct_n(["ああああ"], 1) == 1 / 4
    assert distinct_n(["あいう", "えお"], 2) == 1.0
    assert distinct_n(["あいあい"], 2) == 2 / 3


def test_self_bleu_identical_is_high_and_different_is_low():
    same = self_bleu(["あきのたのかりほ"] * 3)
    diff = self_bleu(["あきのたのかりほ", "はるすぎてなつき", "ひさかたのひかり"])
    assert same == pytest.approx(100.0)
    assert diff < 30
    assert self_bleu(["ひとつ"]) == 0.0


@pytest.mark.parametrize("q", [0, 10, 50, 95, 99, 100])
def test_percentile_matches_numpy(q):
    values = [3.0, 1.0, 4.0, 1.5, 9.0, 2.6]
    assert percentile(values, q) == pytest.approx(np.percentile(values, q))
    assert math.isnan(percentile([], 50))
