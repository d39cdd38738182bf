"""`benchmarks/bench_session.py` end to end on one short run (slow): the result file has the
figures the architecture lists, measured in the same run as their reference."""

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_bench_session_writes_its_figures(tmp_path, tiny_base):
    sys.path.insert(0, str(REPO / "benchmarks"))
    import bench_session

    out = tmp_path / "session.json"
    code = bench_session.main(["--sessions", "2", "--n", "1", "--base", str(tiny_base),
                               "--out", str(out), "--quiet"])
    assert code == 0
    report = json.loads(out.read_text())
    f = report["figures"]
    assert f["sessions"] == 2 and set(report) == {"figures", "machine", "when", "notes"}
    for key in ("sessions_without_errors", "sessions_without_errors_reference",
                "seat_season_adherence", "seat_season_adherence_reference", "form_adherence",
                "seconds_per_verse_median", "seconds_per_verse_median_reference",
                "seconds_per_verse_ratio"):
        assert isinstance(f[key], float), key
    # the guarantee: what the seat-aware mode wrote fits its seats
    assert f["seat_season_adherence"] == 1.0 and f["form_adherence"] == 1.0
    assert set(f["parts"]) == {"dev", "heldout"}


def test_hokku_seeds_are_fixed_and_split():
    sys.path.insert(0, str(REPO / "benchmarks"))
    import bench_session

    seeds = bench_session.hokku_seeds(20)
    assert len(seeds) == 20 and seeds == bench_session.hokku_seeds(20)
    assert {p for _, p in seeds} == {"dev", "heldout"}
    assert all(len(t.split()) == 3 for t, _ in seeds)
