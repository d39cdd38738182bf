"""The saijiki loader: format, errors with file:line, indexes, the cache; and the bundled data."""

import pytest

from tsukeku.errors import DataError
from tsukeku.renga.saijiki import default_path, load_saijiki

HEADER = "word\tseason\tcategory\treadings\tvariants\n"


def _write(tmp_path, body: str, name: str = "s.tsv"):
    p = tmp_path / name
    p.write_text("# a comment\n" + HEADER + body, encoding="utf-8")
    return p


def test_loads_entries_and_looks_up_spellings_and_readings(tmp_path):
    p = _write(tmp_path, "蛙\t春\t動物\tかえる,かはづ\tかはづ,かわず\n月\t秋\t天文\tつき\t\n")
    s = load_saijiki(p)
    assert len(s) == 2
    assert s.lookup("蛙").season == "春"
    assert s.lookup("かわず").word == "蛙"  # modern kana
    assert s.lookup("かはづ").word == "蛙"  # historical kana
    assert s.lookup("カエル").word == "蛙"  # katakana
    assert s.lookup("つき").season == "秋"
    assert s.lookup("猫") is None


def test_homophones_of_different_seasons_are_not_matched_by_reading(tmp_path):
    p = _write(tmp_path, "柿\t秋\t植物\tかき\t\n牡蠣\t冬\t動物\tかき\t\n")
    s = load_saijiki(p)
    assert s.lookup("柿").season == "秋" and s.lookup("牡蠣").season == "冬"
    assert s.lookup("かき") is None


@pytest.mark.parametrize(
    "body, where",
    [
        ("蛙\t春\t動物\n", ":3:"),  # three fields
        ("蛙\t初夏\t動物\tかえる\t\n", ":3:"),  # unknown season
        ("蛙\t春\t虫\tかえる\t\n", ":3:"),  # unknown category
        ("蛙\t春\t動物\t\t\n", ":3:"),  # no reading
        ("月\t秋\t天文\tつき\t\n蛙\t春\t動物\tkaeru\t\n", ":4:"),  # reading not kana
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, body, where):
    p = _write(tmp_path, body)
    with pytest.raises(DataError, match=f"s.tsv{where}"):
        load_saijiki(p)


def test_missing_header_and_missing_file(tmp_path):
    p = tmp_path / "h.tsv"
    p.write_text("蛙\t春\t動物\tかえる\t\n", encoding="utf-8")
    with pytest.raises(DataError, match="h.tsv:1: expected the header"):
        load_saijiki(p)
    with pytest.raises(DataError, match="not found"):
        load_saijiki(tmp_path / "none.tsv")


def test_loaded_once(tmp_path):
    p = _write(tmp_path, "月\t秋\t天文\tつき\t\n")
    assert load_saijiki(p) is load_saijiki(p)


def test_bundled_saijiki_size_and_traditional_facts():
    if not default_path().exists():
        pytest.skip("the bundled saijiki is not written yet")
    s = load_saijiki()
    assert len(s) >= 2000, len(s)
    assert s.lookup("月").season == "秋" and s.lookup("月").category == "天文"
    assert s.lookup("花").season == "春" and s.lookup("花").category == "植物"
    assert set(s.seasons()) == {"春", "夏", "秋", "冬", "新年"}
