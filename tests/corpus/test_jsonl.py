"""Our own JSON Lines: exact round trip, bad lines reported with file:line, --strict."""

import pytest

from tsukeku.corpus.issues import IssueLog
from tsukeku.corpus.readers.jsonl import dumps_records, read_records, write_records
from tsukeku.errors import DataError


def test_read_then_write_gives_identical_bytes(fixtures, tmp_path):
    src = fixtures / "own.jsonl"
    data = read_records(src)
    assert [link.id for link in data.links] == ["f-0001", "f-0002"]
    assert [c.id for c in data.chains] == ["mini-01"]
    # Records are written back in file order (links and chains here are in that order).
    out = write_records(tmp_path / "again.jsonl", [*data.links, *data.chains])
    assert out.read_bytes() == src.read_bytes()


def test_all_links_fill_source_and_group(fixtures):
    data = read_records(fixtures / "own.jsonl", name="mine")
    links = data.all_links()
    assert len(links) == 2 + 3
    first, second = links[0], links[1]
    assert (first.source, first.group) == ("mine", "f-0001")  # standalone: its own group
    assert (second.source, second.group) == ("fixture", "g-1")  # as stored
    assert {link.group for link in links[2:]} == {"mini-01"}
    # The stored records are untouched (the round trip above stays exact).
    assert data.links[0].source is None


def test_bad_lines_are_reported_with_file_line_and_skipped(fixtures, tmp_path):
    good = (fixtures / "own.jsonl").read_text(encoding="utf-8").splitlines()
    bad = tmp_path / "mixed.jsonl"
    bad.write_text(
        "\n".join(
            [
                good[0],
                "{not json",
                '{"id": "x", "previous": {"text": "朝霧の", "kind": "長句"}, '
                '"next": {"text": "櫂の雫に 秋の日の射す", "kind": "短句"}}',
                '{"id": "y", "foo": 1}',
                "[1, 2]",
                good[0],  # duplicate id
                "",
                good[2],
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    log = IssueLog()
    data = read_records(bad, log)
    assert len(data.links) == 1 and len(data.chains) == 1
    assert data.bad_records == 5 == len(log.errors)
    lines = [i.line for i in log.errors]
    assert lines == [2, 3, 4, 5, 6]
    reasons = [str(i) for i in log.errors]
    assert reasons[0].startswith(f"{bad}:2: not JSON")
    assert "previous: a 長句 has 3 ku" in reasons[1]
    assert "neither a link" in reasons[2]
    assert "duplicate id 'f-0001' (first on line 1)" in reasons[4]


def test_strict_mode_stops_at_the_first_bad_record(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "y", "foo": 1}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.jsonl:1: .*--strict"):
        read_records(bad, IssueLog(strict=True))


def test_dumps_records_is_one_canonical_line_per_record(fixtures):
    data = read_records(fixtures / "own.jsonl")
    text = dumps_records(data.links)
    assert text.count("\n") == 2 and text.endswith("\n")
