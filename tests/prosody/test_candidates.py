"""Dictionary candidates chosen by the meter, classical orthography, editors' notes, and
`count` reading a spaced verse as `check` does. Examples are our own words, not test verses."""

import pytest

from tsukeku.prosody import candidates, check_form, count_morae, count_verse, reading, split_ku
from tsukeku.prosody.dictionary import dictionary_words, kanji_words
from tsukeku.prosody.lattice import build_lattice
from tsukeku.prosody.reading import validate


def test_dictionary_words_give_every_reading_of_a_surface_but_names():
    words = dictionary_words("兵と是")
    assert {w.reading for w in words if (w.start, w.end) == (0, 1)} >= {"へい", "つわもの"}
    assert "これ" in {w.reading for w in words if (w.start, w.end) == (2, 3)}
    sky = {w.reading for w in dictionary_words("天") if (w.start, w.end) == (0, 1)}
    assert "あま" in sky and "たかし" not in sky  # a given name is no reading of the word


def test_kanji_words_from_words_written_with_okurigana():
    assert "しずか" in kanji_words("閑").wholes  # 閑か
    assert "あり" in kanji_words("有").wholes  # 有り
    assert {"うつ", "うち"} <= set(kanji_words("打").wholes)
    assert "こ" in kanji_words("越").stems  # 越す, 越え → 越ゆ
    assert "しら" in kanji_words("知").mizen  # 知ら
    assert "つ" in kanji_words("打").okuri_starts
    assert not any(r.endswith("っ") for r in kanji_words("打").wholes)  # 打っ never stands alone


@pytest.mark.parametrize(
    ("text", "due", "plain", "metered"),
    [
        ("閑さよ", 5, "ひまさよ", "しずかさよ"),  # okurigana left out: 閑か
        ("兵の", 5, "へいの", "つわものの"),  # a reading of the same surface
        ("川越ゆる", 5, None, "かわこゆる"),  # classical conjugation: 越 + ゆ
        ("鐘の声也", 7, None, "かねのこえなり"),  # 助字: 也 = なり
        ("ちやうどよき", 5, "ちやうどよき", "ちょうどよき"),  # contracted, ちょうど is a word
    ],
)
def test_the_meter_chooses_a_dictionary_reading_that_fits(text, due, plain, metered):
    if plain is not None:
        assert reading(text) == plain  # without a meter nothing changes
    assert reading(text, due) == metered
    assert count_morae(text, due) == due


def test_negation_before_a_verb_is_read_after_it():
    assert count_morae("不知", 3) == 3
    assert reading("不知", 3) == "しらず"


def test_candidates_never_invent_a_count():
    # 字余り stays where no reading of any source fits: the meter is a prior, not a force.
    assert count_morae("苫屋をあらみ", 5) == 7
    assert count_morae("あいうえおかき", 5) == 7  # kana are read as written


def test_candidates_only_where_mecab_cannot_fit(monkeypatch):
    asked = []
    real = candidates.add_candidate_edges

    def spy(text, *args):
        asked.append(text)
        return real(text, *args)

    monkeypatch.setattr(candidates, "add_candidate_edges", spy)
    path, _ = build_lattice(validate("雪の夜の")).path(5)  # a fresh lattice (lattice() caches)
    assert "".join(s.reading for s in path) == "ゆきのよの"
    assert asked == []  # never built: the base lattice fits
    path, _ = build_lattice(validate("閑さよ")).path(5)
    assert "".join(s.reading for s in path) == "しずかさよ" and asked == ["閑さよ"]


@pytest.mark.parametrize(
    "verse",
    [
        "閑さよ 夜の廊下に 猫の影",
        "川越ゆる 鐘の声也 思ひけり",
        "兵の 帰らぬ里に 秋深し",
        "雪の夜の しずかにふける 山の里",
        "山里の 夕べの鐘に 声也けり 遠き都を 思ふころかな",
        "霞の奥に 鐘打つ音す",
    ],
)
def test_count_and_check_read_a_spaced_verse_alike(verse):
    counted = count_verse(verse)
    checked = check_form(verse)
    assert counted.ku_morae == checked.ku_morae
    assert counted.readings == checked.readings


def test_count_of_a_single_ku_has_no_meter():
    assert count_verse("閑さよ").ku_morae == [count_morae("閑さよ")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("よろづよをまつ(松、待つ)", "よろづよをまつ"),  # a gloss after kana
        ("止めじ〈止めない〉", "とめじ"),  # a translation as ruby
        ("他所〈よそ、四十〉に", "よそに"),  # ruby and a gloss: the ruby is read
        ("鶴(つる、鶴)の", "つるの"),
    ],
)
def test_editors_notes_are_not_read(text, expected):
    assert reading(text) == expected


def test_a_note_does_not_move_the_split():
    kus = split_ku(
        "朝霧の晴れゆく川をわたる舟遠き岸辺に鷺の立つらむ(立つ、発つ)", "5-7-5-7-7"  # ours
    )
    assert len(kus) == 5 and kus[-1].endswith("(立つ、発つ)")
