"""`tsukeku eval` reports next-verse selection and F1 vs the reference beside its other figures."""

import json

import pytest

from tsukeku.backends.registry import registry_from_dict
from tsukeku.evaluation.report import evaluate
from tsukeku.generation.types import CompositionResult


class NoLogprobs:
    """A backend like the remote ones: it composes, but cannot score a given text."""

    name = "remote"
    supports_constraints = False

    def compose(self, request):
        return CompositionResult(previous=request.previous, form=request.form, candidates=[],
                                 model=self.name, constrained=False)

    def compose_many(self, requests):
        return [self.compose(r) for r in requests]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from tsukeku.corpus.build import build_dataset

    out = tmp_path_factory.mktemp("data")
    build_dataset(["bundled"], out, seed=0)
    return out


def test_link_figures_in_the_report(tiny_base, dataset, tmp_path):
    registry = registry_from_dict({"models": {"base": {"kind": "local", "base": str(tiny_base)}}})
    registry.add("remote", NoLogprobs())
    out = tmp_path / "report"
    report = evaluate(registry, ["base", "remote"], dataset, out, n=1, limit=4,
                      modes=("constrained",), quiet=True)
    on_disk = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert on_disk["link_candidates"] == 10
    lk = on_disk["models"]["base"]["link"]
    assert lk["available"] and lk["items"] == 4 and lk["candidates"] == 10
    assert lk["recall_at_1_ci_low"] <= lk["recall_at_1"] <= lk["recall_at_1_ci_high"]
    assert lk["mrr_ci_low"] <= lk["mrr"] <= lk["mrr_ci_high"] and lk["mrr"] >= 0.1
    assert lk["chance_recall_at_1"] == pytest.approx(0.1)
    remote = on_disk["models"]["remote"]["link"]
    assert remote["available"] is False and "log-probabilities" in remote["reason"]
    # F1 vs reference sits beside the copy and overlap rates; every earlier key is still there
    mode = on_disk["models"]["base"]["modes"]["constrained"]
    assert 0.0 <= mode["content_f1_vs_reference"] <= 1.0
    for key in ("copy_rate_vs_train", "content_overlap_with_previous", "form_adherence_exact",
                "self_bleu", "latency_ms_p50"):
        assert key in mode
    assert {"heldout", "modes", "samples"} <= set(on_disk["models"]["base"])
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "Next-verse selection" in md and "| remote | n/a | n/a |" in md
    assert "F1 vs reference" in md and "weak signal" in md
    assert "Next-verse selection" in (out / "report.html").read_text(encoding="utf-8")
    assert report["models"]["base"]["link"] == lk


def test_link_can_be_left_out(tiny_base, dataset, tmp_path):
    registry = registry_from_dict({"models": {"base": {"kind": "local", "base": str(tiny_base)}}})
    report = evaluate(registry, ["base"], dataset, tmp_path / "r", n=1, limit=1,
                      modes=("constrained",), quiet=True, link_distractors=0)
    assert "link" not in report["models"]["base"] and report["link_candidates"] == 0


@pytest.mark.slow
def test_cli_reports_link_figures(tiny_base, dataset, tmp_path):
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "tsukeku", "eval", "--models", f"base={tiny_base}", "--data",
         str(dataset), "--out", str(tmp_path / "r"), "-n", "1", "--limit", "2", "--mode",
         "constrained", "--link-distractors", "4", "--quiet", "--json"],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    lk = out["models"]["base"]["link"]
    assert lk["candidates"] == 5 and lk["items"] == 2 and lk["chance_recall_at_1"] == 0.2
    assert out["judge"] is None
