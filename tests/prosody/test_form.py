"""Forms, check_form, split_ku (verses written for these tests)."""

import pytest

from tsukeku.errors import InputError
from tsukeku.prosody import FORMS, Deviation, FormReport, check_form, other_form, split_ku

CHOKU = "雪の夜の しずかにふける 山の里"  # 5-7-5
TANKU = "風のたよりに 春を知るかな"  # 7-7
TANKA = "山里の 雪をかきわけ 訪ふ人の 足あとのこる 朝の庭かな"  # 5-7-5-7-7


def test_forms_and_other_form():
    assert FORMS == {"5-7-5": (5, 7, 5), "7-7": (7, 7), "5-7-5-7-7": (5, 7, 5, 7, 7)}
    assert other_form("5-7-5") == "7-7"
    assert other_form("7-7") == "5-7-5"
    with pytest.raises(InputError):
        other_form("5-7-5-7-7")


@pytest.mark.parametrize(
    ("verse", "form"), [(CHOKU, "5-7-5"), (TANKU, "7-7"), (TANKA, "5-7-5-7-7")]
)
def test_auto_form_from_the_number_of_ku(verse, form):
    rep = check_form(verse)
    assert rep.form == form and rep.ok
    assert rep.ku == verse.split() and rep.ku_morae == list(FORMS[form])
    assert rep.deviations == []


def test_jiamari_and_jitarazu_are_named_with_their_ku():
    rep = check_form("おもいいづる 庭の紅葉の 色ふかし")
    assert not rep.ok and rep.ku_morae == [6, 7, 5]
    assert rep.deviations == [Deviation(0, "おもいいづる", 5, 6, "字余り")]
    rep = check_form("ゆきふる よるのしずけさ", "7-7")
    assert rep.deviations == [Deviation(0, "ゆきふる", 7, 4, "字足らず")]


def test_report_json_is_exactly_the_contract():
    d = check_form(CHOKU, "5-7-5").to_dict()
    assert list(d) == ["ok", "form", "ku", "ku_morae", "deviations", "readings"]
    assert d["readings"] == ["ゆきのよの", "しずかにふける", "やまのさと"]
    bad = check_form("おもいいづる 庭の紅葉の 色ふかし").to_dict()
    assert bad["deviations"] == [
        {"index": 0, "ku": "おもいいづる", "expected": 5, "actual": 6, "kind": "字余り"}
    ]


def test_unspaced_text_is_split_then_checked():
    rep = check_form(CHOKU.replace(" ", ""))
    assert rep.form == "5-7-5" and rep.ku == CHOKU.split() and rep.ok
    rep = check_form(TANKA.replace(" ", ""), "5-7-5-7-7")
    assert rep.ku == TANKA.split() and rep.ok


def test_spaced_text_with_other_ku_count_is_split_to_the_form():
    rep = check_form("雪の夜の しずかにふける山の里", "5-7-5")
    assert rep.ku == CHOKU.split()


def test_given_reading_is_counted_instead_of_the_text():
    rep = check_form(CHOKU, reading="ゆきのよの しずかにふける やまのさと")
    assert rep.ok and rep.readings == ["ゆきのよの", "しずかにふける", "やまのさと"]
    assert rep.ku == CHOKU.split()
    # an unspaced reading is split itself
    rep = check_form(CHOKU, "5-7-5", reading="ゆきのよのしずかにふけるやまのさと")
    assert rep.ku_morae == [5, 7, 5] and rep.ok
    # the reading decides, even where the text would be read otherwise
    rep = check_form("夜の雨", "5-7-5", reading="よるの あめの ふるさと")
    assert rep.ku_morae == [3, 3, 4] and not rep.ok
    with pytest.raises(InputError, match="kana"):
        check_form(CHOKU, reading="雪のよの しずかにふける やまのさと")


def test_bad_form_and_bad_text():
    with pytest.raises(InputError, match="unknown form"):
        check_form(CHOKU, "5-7")
    with pytest.raises(InputError, match="empty"):
        check_form("")


@pytest.mark.parametrize(
    ("text", "form", "ku"),
    [
        (CHOKU.replace(" ", ""), "5-7-5", CHOKU.split()),
        (TANKU.replace(" ", ""), "7-7", TANKU.split()),
        (TANKA.replace(" ", ""), "5-7-5-7-7", TANKA.split()),
        # ruby stays in the ku; its reading decides the count (今日 = けふ = 2)
        ("今日〈けふ〉もまた雪の降りしく山里に人待つ宵の月ぞさやけき", "5-7-5-7-7",
         ["今日〈けふ〉もまた", "雪の降りしく", "山里に", "人待つ宵の", "月ぞさやけき"]),
        # a 字余り ku with a bare vowel, and the boundary after the particle
        ("秋の夜を惜しみあかせる窓の月", "auto", ["秋の夜を", "惜しみあかせる", "窓の月"]),
    ],
)  # fmt: skip
def test_split_ku(text, form, ku):
    assert split_ku(text, form) == ku


def test_split_never_cuts_a_ruby_unit_or_a_lexicon_word():
    ku = split_ku("ひさかたの天の原ゆくしら雲の", "5-7-5")
    assert not any(k.endswith("天の") or k.startswith("原") for k in ku)
    ku = split_ku("ゆく年の一年〈ひととせ〉をなほ惜しむかな", "5-7-5")
    assert any("一年〈ひととせ〉" in k for k in ku)


def test_split_is_a_partition_of_the_text():
    text = "夏草のしげみにまよふ蛍かな"
    ku = split_ku(text, "5-7-5")
    assert "".join(ku) == text and len(ku) == 3 and all(ku)


def test_split_too_short():
    with pytest.raises(InputError, match="too short"):
        split_ku("ゆき", "5-7-5")


def test_report_type():
    assert isinstance(check_form(CHOKU), FormReport)
