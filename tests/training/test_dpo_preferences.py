"""Rule-derived preference pairs: from the training split only, labelled, and each rejected verse
broken by its rule."""

import json

import pytest
from typer.testing import CliRunner

from tsukeku.cli import app
from tsukeku.errors import InputError
from tsukeku.prosody import check_form
from tsukeku.training.data import load_template, read_split
from tsukeku.training.preferences import RULES, build_preferences, corrupt, synthetic_pairs

runner = CliRunner()


def test_pairs_come_from_train_only_and_are_labelled(bundled_dataset, tmp_path):
    out = tmp_path / "prefs.jsonl"
    r = runner.invoke(app, ["data", "preferences", "--data", str(bundled_dataset), "--out", str(out)])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    train = {rec["id"]: rec for rec in read_split(bundled_dataset, "train")}
    held = {rec["id"] for s in ("validation", "test") for rec in read_split(bundled_dataset, s)}
    assert rows and len(rows) == json.loads(r.output)["pairs"]
    assert all(row["id"] in train and row["id"] not in held for row in rows)
    assert all(row["synthetic"] is True and row["split"] == "train" for row in rows)
    assert {row["rule"] for row in rows} == set(RULES)
    tpl = load_template(bundled_dataset)
    for row in rows[:50]:
        rec = train[row["id"]]
        assert row["prompt"] == tpl.render(rec["previous"], rec["next_form"], rec["context"], rec)
        assert row["chosen"] == tpl.target(rec["next"]) != row["rejected"]
        rejected = tpl.parse(row["rejected"])
        if row["rule"] == "copies_previous":  # shares a whole ku with the 前句
            assert set(rejected.split()) & set(rec["previous"].split())
        else:  # one ku too few or too many
            assert abs(len(rejected.split()) - len(rec["next"].split())) == 1


def test_form_rules_break_form_and_are_deterministic(bundled_dataset):
    import numpy as np

    rec = read_split(bundled_dataset, "train")[0]
    for rule in ("ku_dropped", "ku_duplicated"):
        text, reading = corrupt(rec, rule, np.random.default_rng(0))
        assert not check_form(text, rec["next_form"], reading=reading).ok
    tpl = load_template(bundled_dataset)
    records = read_split(bundled_dataset, "train")[:40]
    assert synthetic_pairs(records, tpl, split="train") == synthetic_pairs(records, tpl, split="train")
    with pytest.raises(InputError):
        synthetic_pairs(records, tpl, split="train", rules=["nonsense"])


def test_test_split_pairs_for_benchmarks(bundled_dataset):
    pairs = build_preferences(bundled_dataset, split="test", rules=["ku_dropped"])
    assert {p["split"] for p in pairs} == {"test"} and {p["rule"] for p in pairs} == {"ku_dropped"}


def test_unlinked_pairs_take_another_links_fuku(bundled_dataset):
    from tsukeku.prosody import normalise_reading
    from tsukeku.training.preferences import UNLINKED

    records = read_split(bundled_dataset, "train")
    tpl = load_template(bundled_dataset)
    pairs = synthetic_pairs(records, tpl, split="train", rules=[*RULES, UNLINKED])
    unlinked = [p for p in pairs if p["rule"] == UNLINKED]
    assert len(unlinked) == len(records)  # one beside each record's form/copy pair
    assert len(pairs) - len(unlinked) == len(synthetic_pairs(records, tpl, split="train"))
    by_id = {r["id"]: r for r in records}
    fuku = {r["next"]: r for r in records}
    for p in unlinked:
        rec = by_id[p["id"]]
        other = fuku[tpl.parse(p["rejected"])]  # a true 付句 of the split ...
        assert other["id"] != rec["id"] and other["next_form"] == rec["next_form"]  # ... of another
        assert other["next"] != rec["next"]
        assert normalise_reading(other["next_reading"]) != normalise_reading(rec["next_reading"])
        assert p["synthetic"] is True and p["chosen"] == tpl.target(rec["next"])
    # only unlinked pairs when asked for them alone; deterministic
    alone = synthetic_pairs(records, tpl, split="train", rules=[UNLINKED])
    assert alone == unlinked
    assert synthetic_pairs(records, tpl, split="train", rules=[UNLINKED], seed=1) != alone


def test_cli_takes_the_unlinked_rule(bundled_dataset, tmp_path):
    out = tmp_path / "unlinked.jsonl"
    r = runner.invoke(app, ["data", "preferences", "--data", str(bundled_dataset), "--out", str(out),
                            "--rule", "unlinked"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert rows and {row["rule"] for row in rows} == {"unlinked"}
    assert json.loads(r.output)["rules"] == {"unlinked": len(rows)}
