"""Readings: ruby, the poetic lexicon, MeCab N-best with the meter, numbers, letters, errors.

Verses here are written for these tests (single words of the classical lexicon are words)."""

import pytest

from tsukeku.errors import InputError
from tsukeku.prosody import count_morae, reading
from tsukeku.prosody.lattice import count_plain
from tsukeku.prosody.lexicon import load_lexicon, parse_lexicon
from tsukeku.prosody.reading import MAX_CHARS
from tsukeku.prosody.ruby import parse_pieces

# --- ruby: the first source ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("今日〈けふ〉の月", "きょうのつき"),  # editor's angle brackets, historical kana recited
        ("｜漢字《かんじ》", "かんじ"),  # Aozora with an explicit base
        ("|漢字《かんじ》を", "かんじを"),
        ("東京《とうきょう》に", "とうきょうに"),  # Aozora: the run of kanji before 《》
        ("漢字(かんじ)を", "かんじを"),
        ("漢字（かんじ）を", "かんじを"),  # full-width parentheses
        ("山〈さん〉", "さん"),  # the ruby wins over every other source
        ("凍れる〈こほれる〉水", "こおれるみず"),  # ruby covering the okurigana
        ("匂う〈にほふ〉花", "におうはな"),  # ... spelt historically
        ("梅が枝〈え〉に", "うめがえに"),  # ruby on the last kanji only
        ("木の芽〈このめ〉も", "このめも"),  # ruby over kanji, kana, kanji
    ],
)
def test_ruby(text, expected):
    assert reading(text) == expected


def test_ruby_base_is_narrowed_to_the_kanji_it_reads():
    pieces = parse_pieces("石走る〈ばしる〉", count_plain)
    assert [(p.text, p.reading) for p in pieces] == [("石", None), ("走る", "ばしる")]
    # kana after the kanji that the ruby does not spell stay text of their own
    pieces = parse_pieces("山くらぶ〈やま〉", count_plain)
    assert [(p.text, p.reading) for p in pieces] == [("山", "やま"), ("くらぶ", None)]


def test_parentheses_without_kana_are_punctuation():
    assert reading("(雪)") == "ゆき"


# --- the lexicon: the second source --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("露", "つゆ"),  # MeCab alone: ろ
        ("紅葉", "もみじ"),  # MeCab alone: こうよう
        ("天の原", "あまのはら"),
        ("夜を", "よを"),
        ("今日", "きょう"),
        ("白妙の", "しろたえの"),
        ("衣手", "ころもで"),
        ("逢坂", "おうさか"),
        ("久方の", "ひさかたの"),
        ("山里に", "やまざとに"),
        ("昔の人", "むかしのひと"),
    ],
)
def test_lexicon_readings(text, expected):
    assert reading(text) == expected


def test_lexicon_words_are_used_at_word_boundaries_only():
    assert count_morae("夜半の") == 3  # 夜半 = よわ, not 夜 + 半
    assert reading("香る") != "かる"  # 香 = か only where it stands as a word
    assert count_morae("この年は") == 5  # 年 = とし as a word ...
    assert reading("三年") == "さんねん"  # ... ねん as a counter


def test_longest_lexicon_word_wins():
    assert count_morae("恋ひわたる") == 5  # 恋ひ = こい, not 恋 (こい) + ひ


def test_stems_read_before_their_okurigana():
    assert count_morae("憂き身") == 3  # う + き + み
    assert count_morae("忘らるる") == 5
    assert count_morae("墨染の") == 5  # 染 before の is not the stem of 染む


def test_lexicon_file_is_well_formed_and_general():
    lex = load_lexicon()
    assert len(lex) > 400
    for entry in lex.entries.values():
        assert entry.readings and all(entry.readings)
        assert len(entry.word) <= 8  # words and set phrases, never a whole ku


def test_lexicon_parser_rejects_bad_lines(tmp_path):
    from tsukeku.errors import DataError

    with pytest.raises(DataError, match="must be kana"):
        parse_lexicon("露\tdew\t歌語")
    with pytest.raises(DataError, match="unknown kind"):
        parse_lexicon("露\tつゆ\tnoun")
    assert parse_lexicon("# comment\n\n露\tつゆ|ろ\t歌語\n")[0].readings == ("つゆ", "ろ")


def test_user_lexicon_extends_the_bundled_one(tmp_path, monkeypatch):
    from tsukeku.errors import DataError
    from tsukeku.prosody.lexicon import load_lexicon as load

    extra = tmp_path / "mine.tsv"
    extra.write_text("鵺\tぬえ\t歌語\n", encoding="utf-8")
    lex = load(str(extra))
    assert lex.get("鵺").readings == ("ぬえ",) and "露" in lex
    # the same file named by $TSUKEKU_LEXICON (read through tsukeku.settings)
    monkeypatch.setenv("TSUKEKU_LEXICON", str(extra))
    load.cache_clear()
    try:
        assert load().get("鵺").readings == ("ぬえ",)
        monkeypatch.setenv("TSUKEKU_LEXICON", str(tmp_path / "missing.tsv"))
        load.cache_clear()
        with pytest.raises(DataError, match="TSUKEKU_LEXICON"):
            load()
    finally:
        monkeypatch.delenv("TSUKEKU_LEXICON")
        load.cache_clear()


# --- MeCab with the meter: the third source ------------------------------------------------------


def test_meter_picks_among_candidate_readings():
    # MeCab's first guess reads 四 as よん (8 morae); another analysis it gives fits 7
    assert count_morae("十四五本も", expected=7) == 7
    assert count_morae("身世に", expected=3) == 3  # 身 + 世 (み+よ) rather than しんせい


def test_meter_never_forces_a_count_no_reading_gives():
    # 字余り is real: no source reads this ku in 5 morae
    assert count_morae("苫屋をあらみ", expected=5) == 7
    assert count_morae("かぜのおと", expected=7) == 5


def test_modern_spelling_of_classical_okurigana_helps_mecab():
    assert reading("訪ふ人") == "とうひと"  # 訪う = とう, not ほう + ふ
    assert count_morae("言へども") == 4


def test_historical_kana_in_text_counts_as_recited():
    assert count_morae("けふ") == 2
    assert count_morae("てふてふ") == 4
    assert count_morae("ゐる") == 2
    assert reading("ゐる") == "いる"
    assert count_morae("こゝろ") == 3


# --- numbers and letters -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CD", "しーでぃー"),
        ("ＣＤ", "しーでぃー"),
        ("OK", "おーけー"),
        ("1,000円", "せんえん"),
        ("3本", None),  # a number, never the surname 三本 (みもと)
        ("2024年", None),
    ],
)
def test_numbers_and_letters_are_read(text, expected):
    got = reading(text)
    if expected is not None:
        assert got == expected
    assert got and all("ぁ" <= c <= "ゖ" or c == "ー" for c in got)


def test_number_counts():
    assert count_morae("3本") == 4  # さんぼん / さんぽん
    assert count_morae("2024年") == 10  # にせんにじゅうよねん = 10
    assert count_morae("十四五本も", expected=7) == 7  # じゅうしごほんも


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("、。！", "only spaces and punctuation"),
        ("あ" * (MAX_CHARS + 1), "limit is 1,000"),
        ("ゆき\x07", "control character U\\+0007"),
        ("雪😀", "'😀'"),
        ("雪♪", "'♪'"),
    ],
)
def test_bad_input_is_a_clear_input_error(text, message):
    with pytest.raises(InputError, match=message):
        count_morae(text)
    with pytest.raises(InputError, match=message):
        reading(text)


def test_newlines_and_tabs_are_spaces():
    assert reading("ゆきの\nよる\tかな") == "ゆきの よる かな"


def test_unknown_kanji_names_the_character():
    # 龘 has no reading in unidic-lite, alone or as the stem of a word; ruby gives it one
    with pytest.raises(InputError, match="'龘'.*〈かな〉"):
        count_morae("雲の龘")
    assert count_morae("雲の龘〈とう〉") == 5


def test_stem_of_a_word_known_in_its_modern_form():
    # 眺 alone is unknown to unidic-lite; 眺める is known, so 眺むる is ながむる
    assert reading("ひとり眺むる") == "ひとりながむる"
