"""`make bench-prefs` at a reduced size: the issue's named figures and the extra ones are written."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NAMED = ("preference_accuracy_before", "preference_accuracy_after", "recall_at_1_before_dpo",
         "recall_at_1_after_dpo", "heldout_loss_before_dpo", "heldout_loss_after_dpo")
EXTRA = ("unlinked_preference_accuracy_before", "unlinked_preference_accuracy_after",
         "recall_at_1_before_dpo_pmi", "recall_at_1_after_dpo_pmi", "dpo_minus_sft_recall_at_1_pmi")


@pytest.mark.slow
def test_bench_prefs_dry_run(tmp_path, tiny_base):
    out = tmp_path / "prefs.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_prefs.py"), "--preset",
                           "test", "--epochs", "0.2", "--out", str(out)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text(encoding="utf-8"))
    assert {"figures", "machine", "when", "notes"} <= set(result)
    figures = result["figures"]
    for name in (*NAMED, *EXTRA, *(f"dev_{n}" for n in NAMED)):
        assert name in figures, name
    # the named figures keep the form/copy rules' pairs; `unlinked` ones are counted apart
    assert figures["preference_pairs"] + figures["unlinked_preference_pairs"] > \
        figures["preference_pairs"] > 0
    assert set(result["per_rule"]["heldout"]) == {"ku_dropped", "ku_duplicated",
                                                  "copies_previous", "unlinked"}
    assert proc.stdout.strip().splitlines()[-1].startswith("prefs (test")
