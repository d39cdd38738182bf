"""run.json through RunRecord: the keys it writes, and keys of other versions kept as they are."""

import json

from tsukeku.training.runs import RunRecord, read_run


def test_record_writes_only_what_it_has_and_keeps_unknown_keys(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({
        "name": "r", "status": "running", "created": "2026-01-01T00:00:00+00:00",
        "updated": "2026-01-01T00:00:00+00:00", "pid": 1, "host": "elsewhere", "method": "lora",
        "resumed_from": ["checkpoint-4"], "from_a_newer_version": {"x": 1}}))
    record = RunRecord.load(tmp_path)
    assert record.status == "running" and record.resumed_from == ["checkpoint-4"]
    record.status, record.error = "failed", "boom"
    record.save(tmp_path)
    saved = json.loads((tmp_path / "run.json").read_text())
    assert saved["from_a_newer_version"] == {"x": 1} and saved["error"] == "boom"
    assert saved["created"] == "2026-01-01T00:00:00+00:00" and saved["updated"] != saved["created"]
    assert not {"mlflow", "finished", "summary"} & set(saved)
    assert read_run(tmp_path)["run_dir"] == str(tmp_path)


def test_a_sparse_older_record_still_loads(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"status": "failed", "method": "oft"}))
    record = RunRecord.load(tmp_path)
    assert (record.name, record.status, record.method) == (tmp_path.name, "failed", "oft")
    assert record.created and record.resumed_from == []
