import os
import stat

from tsukeku.io import write_json_atomic, write_jsonl_atomic


def test_atomic_writes_leave_no_temp_files_and_use_umask_mode(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_json_atomic(tmp_path / "sub" / "a.json", {"k": "付句"})
    finally:
        os.umask(old)
    assert path.read_text(encoding="utf-8") == '{\n  "k": "付句"\n}\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["a.json"]


def test_jsonl_one_record_per_line(tmp_path):
    path = write_jsonl_atomic(tmp_path / "x.jsonl", [{"a": 1}, {"b": "秋"}])
    assert path.read_text(encoding="utf-8").splitlines() == ['{"a": 1}', '{"b": "秋"}']


def test_dir_swap_replaces_whole_and_keeps_old_on_failure(tmp_path):
    import pytest

    from tsukeku.io import write_dir_atomic

    target = tmp_path / "model"
    write_dir_atomic(target, lambda d: (d / "a").write_text("1"))
    assert sorted(p.name for p in target.iterdir()) == ["a"]
    write_dir_atomic(target, lambda d: (d / "b").write_text("2"))
    assert sorted(p.name for p in target.iterdir()) == ["b"]  # no leftover of the old one

    def broken(d):
        (d / "c").write_text("3")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_dir_atomic(target, broken)
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temp dirs left behind


def test_jsonl_reader_skips_blank_and_comment_lines_and_splits_only_at_line_ends(tmp_path):
    from tsukeku.io import iter_jsonl, read_jsonl

    records = [{"a": 1}, {"text": "月\u2028花"}, ["x"]]  # U+2028 is no line end in JSON Lines
    path = write_jsonl_atomic(tmp_path / "x.jsonl", records)
    assert read_jsonl(path) == records
    text = '{"a": 1}\r\n\n  # a note\r\n{"b": 2}\r{"c": 3}\n'
    assert list(iter_jsonl("mem.jsonl", text=text, comment="#")) == [
        (1, {"a": 1}), (4, {"b": 2}), (5, {"c": 3})]
    path.write_bytes(("\ufeff" + text.replace("  # a note", "")).encode("utf-8"))  # a BOM
    assert read_jsonl(path) == [{"a": 1}, {"b": 2}, {"c": 3}]


def test_jsonl_reader_names_file_and_line_of_a_bad_line(tmp_path):
    import pytest

    from tsukeku.errors import DataError, InputError
    from tsukeku.io import iter_jsonl, read_jsonl

    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\n\n{"a": \n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.jsonl:3: not valid JSON \(Expecting value at column"):
        read_jsonl(path)
    with pytest.raises(InputError, match=r"bad\.jsonl:3: not valid JSON"):
        list(iter_jsonl(path, error=InputError))
    skipped = []
    assert list(iter_jsonl(path, on_bad=lambda n, err: skipped.append((n, err.msg)))) == [
        (1, {"a": 1})]
    assert skipped == [(3, "Expecting value")]
    with pytest.raises(DataError, match="nowhere.jsonl: no such file"):
        read_jsonl(tmp_path / "nowhere.jsonl")
    assert read_jsonl(tmp_path / "nowhere.jsonl", missing_ok=True) == []
    path.write_bytes(b'{"a": "\xff"}\n')
    with pytest.raises(DataError, match="not UTF-8"):
        read_jsonl(path)
