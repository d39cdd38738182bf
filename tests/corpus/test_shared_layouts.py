"""The readers of the reference files' layouts (hyakunin_isshu.json, kokinshu_vol1-7.json): on
fixtures of our own verse, and on the real files when ../shared/data is there."""

import pytest

from tsukeku.corpus.issues import IssueLog
from tsukeku.corpus.readers.hyakunin import read_hyakunin
from tsukeku.corpus.readers.kokinshu import clean, read_kokinshu, strip_ruby


def test_hyakunin_layout_gives_kami_to_shimo_with_readings(fixtures):
    log = IssueLog()
    data = read_hyakunin(fixtures / "hyakunin_layout.json", log)
    assert [link.id for link in data.links] == ["hyakunin-001", "hyakunin-002"]
    one = data.links[0]
    assert one.previous.text == "山の端に 月を残して 鳥の声"
    assert one.previous.reading == "やまのはに つきをのこして とりのこえ"
    assert one.next.reading == "つゆのこみちを ふみわけてゆく"
    assert one.next.author == "試作一" and one.group == "hyakunin:1"
    (bad,) = log.errors
    assert bad.line == 20 and "shimo_kana" in bad.reason


def test_kokinshu_layout_ruby_notes_single_strings_and_volumes(fixtures):
    log = IssueLog()
    data = read_kokinshu(fixtures / "kokinshu_layout.json", log)
    assert [link.id for link in data.links] == [
        "kokinshu-03-0901",
        "kokinshu-06-0902",
        "kokinshu-12-0903",
    ]
    summer, winter, love = data.links
    # Ruby and editorial notes are out of the text; the ruby gave the reading.
    assert summer.previous.text == "蝉しぐれ 止みたる庭に 水を打つ"
    assert summer.previous.reading.split(" ")[1] == "やみたるにわに"
    assert summer.next.season == "夏"
    # A poem given as one string is split into its five ku.
    assert winter.previous.text == "冬の夜の 炉端に寄りて 聞く話"
    assert winter.next.text == "祖母の声音の やはらかきこと"
    assert winter.next.reading.split(" ")[0] == "そぼのこわねの"
    assert winter.next.season == "冬"
    # An empty string among the ku is dropped; volume 12 is love.
    assert love.previous.text == "会へぬ日の 絶えて久しき 夕暮れに"
    assert love.next.topics == ("恋",) and love.next.season == "雑"
    (bad,) = log.errors
    assert bad.line == 41 and "expected 5 ku" in bad.reason


def test_clean_and_strip_ruby():
    assert clean("まつ(松、待つ)にぞ") == "まつにぞ"
    assert clean("他所〈よそ、四十〉の") == "他所〈よそ〉の"
    assert clean("木(こ)の間") == "木(こ)の間"  # kana in parentheses is ruby: kept for prosody
    assert strip_ruby("一年〈ひととせ〉を 木(こ)の間") == "一年を 木の間"


@pytest.mark.shared_data
def test_real_hyakunin_isshu(shared_data):
    log = IssueLog()
    data = read_hyakunin(shared_data / "hyakunin_isshu.json", log)
    assert len(data.links) + data.bad_records == 100
    assert len(data.links) >= 99
    for link in data.links:
        assert len(link.previous.ku) == 3 and len(link.next.ku) == 2
        assert link.previous.reading and link.next.reading
    # The source's flaws are reported, not hidden (e.g. a non-kana letter in a reading).
    assert all(e.line is not None for e in log.errors)


@pytest.mark.shared_data
def test_real_kokinshu(shared_data):
    log = IssueLog()
    data = read_kokinshu(shared_data / "kokinshu_vol1-7.json", log)
    assert len(data.links) + data.bad_records == 364
    assert len(data.links) >= 330  # most single-string poems split; the rest reported
    for link in data.links:
        for v in (link.previous, link.next):
            assert "〈" not in v.text and "(" not in v.text
            assert v.reading is not None
    assert {link.next.season for link in data.links} == {"春", "夏", "秋", "冬", "雑"}
