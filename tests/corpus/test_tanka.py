"""Tanka collections (JSONL, JSON array, CSV): one link 上の句 → 下の句 per poem, never across
poems; bad records reported with file:line."""

import json

import pytest

from tsukeku.corpus.issues import IssueLog
from tsukeku.corpus.readers.tanka import read_tanka
from tsukeku.errors import DataError


def test_jsonl_each_poem_gives_exactly_its_own_link(fixtures):
    log = IssueLog()
    data = read_tanka(fixtures / "tanka.jsonl", log)
    ids = [link.id for link in data.links]
    assert ids == ["tanka-t1", "tanka-t2", "tanka-t3", "tanka-t4"]
    t1, t2, t3, t4 = data.links
    assert t1.previous.text == "朝霧の 晴れゆく川に 舟を出す"
    assert t1.next.text == "櫂の雫に 秋の日の射す"
    assert t1.previous.reading == "あさぎりの はれゆくかわに ふねをだす"
    assert t1.next.reading == "かいのしずくに あきのひのさす"
    assert (t1.previous.kind, t1.next.kind) == ("長句", "短句")
    assert t1.direction == "長句→短句" and t1.next.season == "秋" and t1.next.author == "試作"
    assert t2.previous.text == "夕凪の 浜に残れる 足跡を" and t2.next.reading is None
    assert t3.next.topics == ("月",)
    assert t3.previous.reading == "やまのはに つきをのこして とりのこえ"
    # Unspaced poem: split into 5-7-5-7-7 by tsukeku.prosody.
    assert t4.previous.text == "春風に 揺れる菜の花 黄に染まる"
    assert t4.next.text == "丘の向こうに 子らの声する"
    # Never a pair across poems: each link is one group, the poem's.
    assert [link.group for link in data.links] == [f"tanka:t{i}" for i in (1, 2, 3, 4)]
    assert all(link.context == [] for link in data.links)


def test_jsonl_bad_records_are_reported_with_lines(fixtures):
    log = IssueLog()
    path = fixtures / "tanka.jsonl"
    data = read_tanka(path, log)
    assert data.bad_records == 5 == len(log.errors)
    by_line = {i.line: i.reason for i in log.errors}
    assert sorted(by_line) == [5, 6, 7, 9, 10]
    assert "3 space-separated parts" in by_line[5]
    assert "not JSON" in by_line[6]
    assert "season" in by_line[7]
    assert "duplicate id 'tanka-t1' (first on line 1)" in by_line[9]
    assert "expected an object" in by_line[10]
    assert str(log.errors[0]).startswith(f"{path}:5: ")


def test_csv_reader(fixtures):
    log = IssueLog()
    data = read_tanka(fixtures / "tanka.csv", log, name="csvset")
    assert [link.id for link in data.links] == ["csvset-c1", "csvset-c2", "csvset-c4"]
    c1, c2, c4 = data.links
    assert c1.next.reading == "そぼのこわねの やわらかきこと" and c1.next.season == "冬"
    assert c2.next.topics == ("庭", "水") and c2.previous.reading is None
    assert c4.next.topics == ("恋",) and c4.next.season == "雑"
    assert [(i.line, "no poem" in i.reason) for i in log.errors] == [(4, True)]


def test_json_array_reports_the_line_a_record_starts_on(tmp_path):
    path = tmp_path / "poems.json"
    records = [
        {"id": 1, "kami": "夕凪の 浜に残れる 足跡を", "shimo": "波ひとつずつ 消してゆくなり"},
        {"id": 2, "kami": "夕凪の 浜に残れる 足跡を"},
    ]
    path.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    log = IssueLog()
    data = read_tanka(path, log)
    assert [link.id for link in data.links] == ["poems-1"]
    text = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(text, start=1) if '"id": 2' in line) - 1
    assert [(i.line, "kami and shimo" in i.reason) for i in log.errors] == [(start, True)]


def test_strict_makes_a_bad_poem_fatal(fixtures):
    with pytest.raises(DataError, match=r"tanka\.jsonl:5: "):
        read_tanka(fixtures / "tanka.jsonl", IssueLog(strict=True))
