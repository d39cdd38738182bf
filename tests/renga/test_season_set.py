"""The classifier on our own hand-labelled verses: the development part (tuned on) and the
held-out part (never tuned on). The goal is 95 % (make bench-renga reports the figures); these
floors catch a regression of the matcher or the saijiki."""

import pytest

from tsukeku.renga import classify
from tsukeku.renga.saijiki import default_path

from .season_set import season_verses, split_of

pytestmark = pytest.mark.skipif(
    not default_path().exists(), reason="the bundled saijiki is not written yet"
)


def test_the_split_is_fixed_and_both_parts_are_large_enough():
    assert split_of("春の野に 子らの声する 昼下がり") == split_of("春の野に 子らの声する 昼下がり")
    dev, held = season_verses("dev"), season_verses("heldout")
    assert len(dev) >= 60 and len(held) >= 60
    assert not {t for _, t in dev} & {t for _, t in held}
    assert {s for s, _ in held} == {"春", "夏", "秋", "冬", "雑"}


@pytest.mark.parametrize("split", ["dev", "heldout"])
def test_season_accuracy(split):
    rows = season_verses(split)
    right = sum(classify(text).season == season for season, text in rows)
    assert right / len(rows) >= 0.9, f"{split}: {right}/{len(rows)}"
