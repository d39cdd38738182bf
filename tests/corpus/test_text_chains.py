"""Plain-text renga chains: titles, author prefixes, unspaced verses, the 長句/短句 alternation."""

import pytest

from tsukeku.corpus.issues import IssueLog
from tsukeku.corpus.readers.text_chains import read_text_chains
from tsukeku.errors import DataError


def test_chains_are_read_with_titles_authors_and_spaced_verses(fixtures):
    log = IssueLog()
    data = read_text_chains(fixtures / "chains.txt", log)
    assert [c.id for c in data.chains] == ["chains-01", "chains-03"]
    first, third = data.chains
    assert first.title == "川霧の巻" and first.form == "other" and len(first.verses) == 5
    assert [v.author for v in first.verses] == ["連衆A", "連衆B", "連衆C", "連衆A", None]
    assert [v.kind for v in first.verses] == ["長句", "短句", "長句", "短句", "長句"]
    # The unspaced last verse was measured (auto form) and spaced into its three ku.
    assert first.verses[-1].text == "遠き野に 灯りのともる 里の道"
    assert third.title is None and third.form == "短連歌"
    links = data.all_links()
    assert len(links) == 4 + 1
    assert links[3].context == first.verses[1:3]


def test_broken_alternation_is_a_bad_record_at_its_line(fixtures):
    log = IssueLog()
    path = fixtures / "chains.txt"
    data = read_text_chains(path, log)
    assert data.bad_records == 1
    (issue,) = log.errors
    assert issue.line == 12
    assert "途切れた巻" in issue.reason and "a 長句 follows a 長句" in issue.reason
    assert str(issue).startswith(f"{path}:12: ")


def test_a_verse_off_its_form_is_kept_with_a_warning(fixtures):
    log = IssueLog()
    data = read_text_chains(fixtures / "chains.txt", log)
    assert data.warnings == len(log.warnings) >= 1
    lines = {w.line for w in log.warnings}
    assert 14 in lines
    assert any("字余り" in w.reason for w in log.warnings if w.line == 14)


def test_strict_stops_on_the_broken_chain(fixtures):
    with pytest.raises(DataError, match=r"chains\.txt:12: "):
        read_text_chains(fixtures / "chains.txt", IssueLog(strict=True))


def test_a_verse_with_four_ku_is_reported(tmp_path):
    path = tmp_path / "four.txt"
    path.write_text(
        "甲: 川霧の 晴れゆく 岸に 舟ひとつ\n乙: 櫂の雫に 秋の日の射す\n", encoding="utf-8"
    )
    log = IssueLog()
    assert read_text_chains(path, log).chains == []
    assert "has 4 ku" in log.errors[0].reason and log.errors[0].line == 1
