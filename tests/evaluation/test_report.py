"""`tsukeku eval` end to end on the real tiny base (test preset) and the bundled dataset."""

import json
import subprocess
import sys

import pytest

from tsukeku.backends.registry import registry_from_dict
from tsukeku.evaluation.report import evaluate


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from tsukeku.corpus.build import build_dataset

    out = tmp_path_factory.mktemp("data")
    build_dataset(["bundled"], out, seed=0)
    return out


def test_report_files_and_figures(tiny_base, dataset, tmp_path):
    registry = registry_from_dict({"models": {
        "base": {"kind": "local", "base": str(tiny_base)},
        "instruct": {"kind": "local", "base": str(tiny_base), "template": "instruction"},
    }})
    out = tmp_path / "report"
    report = evaluate(registry, ["base", "instruct"], dataset, out, n=2, limit=3, quiet=True)

    for name in ("report.json", "report.md", "report.html", "form_adherence.png", "latency.png"):
        assert (out / name).is_file(), name
    assert (out / "form_adherence.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    on_disk = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert on_disk["test_prompts"] == 3
    for name in ("base", "instruct"):
        modes = on_disk["models"][name]["modes"]
        constrained = modes["constrained"]
        # every candidate returned under constraints keeps the form, as checked independently
        assert constrained["candidates_returned"] > 0
        assert constrained["form_adherence_exact"] == 1.0
        assert 0.0 <= modes["unconstrained"]["form_adherence_exact"] <= 1.0
        assert len(modes["unconstrained"]) == len(constrained)
        assert on_disk["models"][name]["heldout"]["tokens"] > 0
        assert constrained["latency_ms_p95"] >= constrained["latency_ms_p50"] > 0
    # a different prompt template changes what the model is scored on
    assert on_disk["models"]["base"]["heldout"]["loss"] != on_disk["models"]["instruct"]["heldout"]["loss"]
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "| base | constrained | 100.0%" in md and "instruct" in md
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<table>" in html and "form_adherence.png" in html
    assert report["models"]["base"]["modes"] == on_disk["models"]["base"]["modes"]


def test_arena_votes_are_rated_in_the_report(tiny_base, dataset, tmp_path):
    from tsukeku.arena.store import ArenaStore

    store = ArenaStore(tmp_path / "votes.sqlite3")
    for winner in ("a", "a", "tie", "b", "a"):
        battle = store.create_battle(previous="山寺の 鐘にほどける 霞かな", model_a="base",
                                     model_b="other", answer_a={"text": "x"}, answer_b={"text": "y"})
        store.record_vote(battle.id, winner)
    registry = registry_from_dict({"models": {"base": {"kind": "local", "base": str(tiny_base)}}})
    report = evaluate(registry, ["base"], dataset, tmp_path / "r", n=1, limit=1,
                      modes=("constrained",), arena_db=tmp_path / "votes.sqlite3", quiet=True)
    rows = {r["model"]: r for r in report["arena"]["rows"]}
    assert report["arena"]["total_votes"] == 5
    assert rows["base"]["wins"] == 3 and rows["base"]["rating"] > rows["other"]["rating"]
    assert "Arena (5 votes)" in (tmp_path / "r" / "report.md").read_text(encoding="utf-8")


def test_cli_unknown_model_is_a_clear_error(dataset, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "tsukeku", "eval", "--models", "nosuch", "--data", str(dataset),
         "--out", str(tmp_path / "r")],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "nosuch" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_missing_dataset_is_a_clear_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "tsukeku", "eval", "--models", "base", "--data",
         str(tmp_path / "none"), "--out", str(tmp_path / "r")],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
