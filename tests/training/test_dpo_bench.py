"""`make bench-prefs` at a reduced size: the issue's named figures and the extra ones are written."""

import pytest

NAMED = ("preference_accuracy_before", "preference_accuracy_after", "recall_at_1_before_dpo",
         "recall_at_1_after_dpo", "heldout_loss_before_dpo", "heldout_loss_after_dpo")
EXTRA = ("unlinked_preference_accuracy_before", "unlinked_preference_accuracy_after",
         "recall_at_1_before_dpo_pmi", "recall_at_1_after_dpo_pmi", "dpo_minus_sft_recall_at_1_pmi")


@pytest.mark.slow
def test_bench_prefs_dry_run(run_benchmark, tiny_base):
    result, stdout = run_benchmark("bench_prefs.py", "--preset", "test", "--epochs", "0.2")
    figures = result["figures"]
    for name in (*NAMED, *EXTRA, *(f"dev_{n}" for n in NAMED)):
        assert name in figures, name
    # the named figures keep the form/copy rules' pairs; `unlinked` ones are counted apart
    assert figures["preference_pairs"] + figures["unlinked_preference_pairs"] > \
        figures["preference_pairs"] > 0
    assert set(result["per_rule"]["heldout"]) == {"ku_dropped", "ku_duplicated",
                                                  "copies_previous", "unlinked"}
    assert stdout.strip().splitlines()[-1].startswith("prefs (test")
