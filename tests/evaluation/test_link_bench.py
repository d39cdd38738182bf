"""`make bench-link` at a reduced size: every figure the issue names is written."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NAMED = ("recall_at_1_base", "recall_at_1_lora", "recall_at_1_oft", "mrr_base", "mrr_lora",
         "mrr_oft", "recall_at_1_base_ci_high", "recall_at_1_lora_ci_low", "items",
         "dev_recall_at_1_lora", "dev_recall_at_1_memorised", "recall_at_1_lora_mismatched")


@pytest.mark.slow
def test_bench_link_dry_run(run_benchmark, tiny_base):
    result, stdout = run_benchmark("bench_link.py", "--preset", "test", "--epochs", "1")
    figures = result["figures"]
    for name in NAMED:
        assert name in figures, name
    assert figures["items"] > 0 and figures["chance_recall_at_1"] == 0.1
    for model in ("base", "lora", "oft"):
        f = figures
        assert f[f"recall_at_1_{model}_ci_low"] <= f[f"recall_at_1_{model}"] \
            <= f[f"recall_at_1_{model}_ci_high"]
    # the calibrated (PMI) figures beside the named ones, and the tanka set where the reference
    # data is (read from ../shared/data at run time)
    for name in ("recall_at_1_base_pmi", "recall_at_1_lora_pmi", "recall_at_1_oft_pmi",
                 "lora_minus_base_recall_at_1_pmi", "dev_recall_at_1_memorised_pmi"):
        assert name in figures, name
    if (REPO.parent / "shared" / "data" / "hyakunin_isshu.json").is_file():
        assert figures["tanka_items"] > 100 and "tanka_recall_at_1_lora_ci_low" in figures
    else:
        assert "tanka_items" not in figures and "tanka figures skipped" in result["notes"]
    assert stdout.strip().splitlines()[-1].startswith("link (test")
