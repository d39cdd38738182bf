"""Arena votes → preference pairs (TRL's prompt/chosen/rejected), on a real SQLite arena file;
and votes.csv with the 前句 and both answers."""

import csv
import io
import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tsukeku.arena.preferences import export_preferences, preference_rows, template_for
from tsukeku.arena.store import ArenaStore
from tsukeku.cli import app
from tsukeku.errors import InputError
from tsukeku.prompts import get_template

LONG = "夕月の 川面に落ちて 砕けけり"  # 5-7-5: answered by 7-7
SHORT = "舟の灯りの 遠く揺れつつ"  # 7-7: answered by 5-7-5
runner = CliRunner()


def _answer(text: str) -> dict:
    return {"text": text, "reading": "", "ku_morae": [len(k) for k in text.split()], "ok": True,
            "deviations": [], "latency_ms": 1.0}


@pytest.fixture
def arena(tmp_path):
    """An arena file with one vote of each kind, in this order: a, b, tie, both_bad."""
    path = tmp_path / "arena.sqlite3"
    store = ArenaStore(path)
    battles = [
        (LONG, "alpha", "beta", "橋のたもとに 人の影なし", "川の流れに 月ぞ浮かべる", "a"),
        (SHORT, "beta", "alpha", "波の間に 船頭の歌 聞こゆなり", "月の夜 静かに更けて 鐘の音", "b"),
        (LONG, "alpha", "beta", "秋の風吹く 野辺の道", "虫の声する 草のかげ", "tie"),
        (LONG, "beta", "alpha", "秋の風吹く 野辺の道", "虫の声する 草のかげ", "both_bad"),
    ]
    for prev, ma, mb, ta, tb, winner in battles:
        b = store.create_battle(prev, ma, mb, _answer(ta), _answer(tb))
        store.record_vote(b.id, winner)
    store.create_battle(LONG, "alpha", "beta", _answer("x y"), _answer("z w"))  # no vote
    yield path, store
    store.close()


def test_decided_votes_become_pairs_in_the_template(arena):
    _, store = arena
    tpl = get_template("completion")
    rows = list(preference_rows(store, tpl))
    assert len(rows) == 2  # tie, both_bad and the unvoted battle left out
    first, second = rows
    assert first["prompt"] == tpl.render(LONG, "7-7", ())
    assert first["chosen"] == tpl.target("橋のたもとに 人の影なし")
    assert first["rejected"] == tpl.target("川の流れに 月ぞ浮かべる")
    assert (first["model_chosen"], first["model_rejected"]) == ("alpha", "beta")
    # winner b: model_b's answer is chosen
    assert second["prompt"] == tpl.render(SHORT, "5-7-5", ())
    assert second["chosen"] == tpl.target("月の夜 静かに更けて 鐘の音")
    assert (second["model_chosen"], second["model_rejected"]) == ("alpha", "beta")
    votes = store.votes()
    assert [r["voted_at"] for r in rows] == [votes[0].created_at, votes[1].created_at]
    assert all(r["synthetic"] is False and r["source"] == "arena" for r in rows)
    assert {"prompt", "chosen", "rejected", "model_chosen", "model_rejected",
            "voted_at"} <= set(first)


def test_template_of_the_run_is_used(arena, tmp_path):
    path, store = arena
    run = tmp_path / "run"
    run.mkdir()
    get_template("instruction").save(run)
    out = tmp_path / "prefs.jsonl"
    counts = export_preferences(store, template_for(run=run), out)
    assert counts.to_dict() == {"written": 2, "undecided": 2, "unusable": 0}
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    instruction = get_template("instruction")
    assert rows[0]["prompt"] == instruction.render(LONG, "7-7", ())
    assert rows[0]["prompt"] != get_template("completion").render(LONG, "7-7", ())
    assert rows[0]["chosen"] == instruction.target("橋のたもとに 人の影なし")
    from tsukeku.training.dpo import read_preferences

    assert len(read_preferences(out)) == 2  # what `tsukeku train --method dpo` reads


def test_template_must_be_given_once(tmp_path):
    with pytest.raises(InputError, match="--template NAME or"):
        template_for()
    with pytest.raises(InputError):
        template_for("completion", tmp_path)
    with pytest.raises(InputError, match="no prompt.json"):
        template_for(run=tmp_path)


def test_cli_export_and_errors(arena, tmp_path):
    path, _ = arena
    out = tmp_path / "p.jsonl"
    r = runner.invoke(app, ["arena", "export-preferences", "--db", str(path), "--template",
                            "completion", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["written"] == 2
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2
    from tsukeku.cli import main

    with pytest.raises(SystemExit) as e:
        main(["arena", "export-preferences", "--db", str(tmp_path / "none.sqlite3"),
              "--template", "completion", "--out", str(out)])
    assert e.value.code == 2


def test_votes_csv_has_previous_and_answers(arena):
    from tests.web.conftest import KuShuffleBackend
    from tsukeku.serving.app import create_app
    from tsukeku.serving.settings import ServeSettings

    _, store = arena
    app_ = create_app({"alpha": KuShuffleBackend("alpha", 1)}, ServeSettings(batch_window_ms=0))
    app_.state.arena_store = store
    with TestClient(app_) as client:
        r = client.get("/api/arena/votes.csv")
    assert r.status_code == 200
    header = next(csv.reader(io.StringIO(r.text)))
    # the old columns first, in their old order; the new ones after
    assert header == ["battle_id", "created_at", "model_a", "model_b", "winner",
                      "previous", "answer_a", "answer_b"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [v["winner"] for v in rows] == ["a", "b", "tie", "both_bad"]
    assert rows[0]["previous"] == LONG
    assert rows[0]["answer_a"] == "橋のたもとに 人の影なし"
    assert rows[1]["answer_b"] == "月の夜 静かに更けて 鐘の音"
