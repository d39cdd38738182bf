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
