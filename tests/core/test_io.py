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
