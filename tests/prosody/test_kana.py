"""Counting rules on kana, normalisation, historical kana."""

import pytest

from tsukeku.errors import InputError
from tsukeku.prosody import kana_morae
from tsukeku.prosody.kana import (
    SMALL_KANA,
    expand_iteration_marks,
    normalize,
    number_to_kanji,
    recite,
    to_hiragana,
)


@pytest.mark.parametrize(
    ("kana", "morae"),
    [
        ("きょう", 2),  # ょ does not count
        ("がっこう", 4),  # っ counts
        ("ほん", 2),  # ん counts
        ("コーヒー", 4),  # ー counts
        ("くゎ", 1),  # ゎ does not count
        ("ヴァイオリン", 5),  # ァ does not count
        ("ヵヶ", 0),
        ("ゆき の よる", 5),  # spaces count nothing
        ("あ、い。う！", 3),  # punctuation counts nothing
        ("", 0),
    ],
)
def test_kana_morae(kana, morae):
    assert kana_morae(kana) == morae


def test_every_small_kana_is_uncounted_and_its_large_form_counts():
    for ch in "ゃゅょぁぃぅぇぉゎャュョァィゥェォヮ":
        assert ch in SMALL_KANA
        assert kana_morae(ch) == 0
    for ch in "やゆよあいうえおわヤユヨアイウエオワ":
        assert kana_morae(ch) == 1


def test_kana_morae_refuses_kanji_with_a_clear_message():
    with pytest.raises(InputError, match="'雪'"):
        kana_morae("ゆき雪")


def test_to_hiragana_and_normalize():
    assert to_hiragana("ユキ") == "ゆき"
    assert normalize("ＣＤ") == "CD"  # full-width Latin → ASCII
    assert normalize("ｶﾞｯｺｳ") == "ガッコウ"  # half-width katakana → full width
    assert normalize("（かな）") == "(かな)"


def test_iteration_marks():
    assert expand_iteration_marks("こゝろ") == "こころ"
    assert expand_iteration_marks("たゞ") == "ただ"
    assert expand_iteration_marks("ハヽ") == "ハハ"


@pytest.mark.parametrize(
    ("historical", "recited"),
    [
        ("けふ", "きょう"),
        ("てふ", "ちょう"),
        ("ゐる", "いる"),
        ("こゑ", "こえ"),
        ("こほれる", "こおれる"),  # medial は行 → わ行
        ("にほふ", "におう"),
        ("おもひ", "おもい"),
        ("はる", "はる"),  # word-initial は stays
        ("くわん", "かん"),  # Sino-Japanese kwa
        ("ぐわつ", "がつ"),
    ],
)
def test_recite_historical_kana(historical, recited):
    assert recite(historical) == recited


def test_historical_rules_that_change_nothing_keep_the_count():
    for word in ("けふ", "てふ", "こほれる", "にほふ", "ゐる"):
        assert kana_morae(recite(word)) == kana_morae(word)
    # kwa is the one rule that changes it: くわ (2) is recited か (1)
    assert kana_morae(recite("くわし")) == 2


def test_recite_without_historical_keeps_modern_spelling():
    assert recite("くわしい", historical=False) == "くわしい"
    assert recite("あふれる", historical=False) == "あふれる"
    assert recite("ゐる", historical=False) == "いる"


@pytest.mark.parametrize(
    ("digits", "kanji"),
    [("0", "零"), ("7", "七"), ("10", "十"), ("15", "十五"), ("100", "百"), ("1500", "千五百"),
     ("2024", "二千二十四"), ("30000", "三万"), ("120000000", "一億二千万")],
)  # fmt: skip
def test_number_to_kanji(digits, kanji):
    assert number_to_kanji(digits) == kanji


def test_normalise_reading_folds_what_sounds_alike():
    from tsukeku.prosody import normalise_reading

    assert normalise_reading("カワ ギリ、の") == normalise_reading("かわぎりの") == "かわぎりの"
    assert normalise_reading("こゑを まづ") == normalise_reading("こえお まず")
    assert normalise_reading("はな") != normalise_reading("わな")
