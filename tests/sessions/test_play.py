"""`tsukeku renga play` with piped input: people take turns, a refused verse is accepted with
/accept, the export is a chain `tsukeku renga check` reads; and with a real tiny model seated."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tests.sessions.conftest import clean_chain, store_module
from tsukeku.cli import app

TEXTS = [v.text for v in clean_chain()]


def test_two_people_play_a_whole_hankasen_from_piped_input(tmp_path):
    out = tmp_path / "play.jsonl"
    db = tmp_path / "play.sqlite3"
    lines = [*TEXTS[:1], "月の光の 冴えわたる", "/accept", "/back", *TEXTS[1:]]
    result = CliRunner().invoke(app, [
        "renga", "play", "--form", "半歌仙", "--human", "松籟", "--human", "杣人",
        "--db", str(db), "--out", str(out)], input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    assert "脇の季" in result.output and "宗匠許し" in result.output
    assert "満尾" in result.output
    chain = json.loads(out.read_text(encoding="utf-8"))
    assert [v["text"] for v in chain["verses"]] == TEXTS
    assert [v["author"] for v in chain["verses"][:2]] == ["松籟", "杣人"]
    check = CliRunner().invoke(app, ["renga", "check", "--json", str(out)])
    assert check.exit_code == 0, check.output
    with store_module.open_store(db) as store:  # the session stays in the store
        assert store.sessions.list_sessions(status="finished")[0].verses == 18


def test_end_of_input_ends_the_session_and_bad_options_exit_2(tmp_path):
    db = str(tmp_path / "s.sqlite3")
    result = CliRunner().invoke(app, ["renga", "play", "--human", "a", "--db", db],
                                input=TEXTS[0] + "\n")
    assert result.exit_code == 0 and "中断" in result.output
    for args in ([], ["--form", "百韻", "--human", "a"]):
        done = subprocess.run([sys.executable, "-m", "tsukeku", "renga", "play", "--db", db,
                               *args], capture_output=True, text=True, input="", timeout=120)
        assert done.returncode == 2 and "error:" in done.stderr and "Traceback" not in done.stderr


def test_a_person_and_a_real_tiny_model_take_turns(tmp_path, tiny_base):
    pytest.importorskip("tsukeku.backends")
    models = tmp_path / "models.yaml"
    models.write_text(f"models:\n  tiny: {{kind: local, base: {json.dumps(str(tiny_base))}}}\n",
                      encoding="utf-8")
    out = tmp_path / "p.jsonl"
    result = CliRunner().invoke(app, [
        "renga", "play", "--human", "松籟", "--models", str(models),
        "--db", str(tmp_path / "s.sqlite3"), "--out", str(out)],
        input=f"{TEXTS[0]}\n\n")
    assert result.exit_code == 0, result.output
    verses = json.loads(out.read_text(encoding="utf-8"))["verses"]
    assert [v["author"] for v in verses] == ["松籟", "tiny"]
    assert verses[1]["kind"] == "短句" and len(verses[1]["text"].split(" ")) == 2
