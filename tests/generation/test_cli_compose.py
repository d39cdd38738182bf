"""`tsukeku compose` on the real tiny base, and its errors (exit 2, no traceback)."""

from __future__ import annotations

import json

import pytest

from tsukeku.cli import main
from tsukeku.prosody import check_form


def run(argv, capsys):
    try:
        main(argv)
        code = 0
    except SystemExit as exit_:
        code = exit_.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def test_compose_json_on_the_tiny_base(tiny_base, capsys):
    code, out, err = run(["compose", "--base", str(tiny_base), "--json", "-n", "3", "--seed",
                          "2", "山寺の鐘にほどける霞かな"], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["form"] == "7-7" and result["constrained"] is True
    assert 1 <= len(result["candidates"]) <= 3
    for cand in result["candidates"]:
        assert check_form(cand["text"], "7-7").ok
        assert set(cand) >= {"text", "reading", "ku_morae", "ok", "score", "logprob"}


def test_compose_table_output_and_chain(tiny_base, capsys):
    code, out, _ = run(["compose", "--base", str(tiny_base), "-n", "2", "--seed", "1",
                        "山寺の 鐘にほどける 霞かな", "畦をつたひて 雪解けの水"], capsys)
    assert code == 0
    assert "付句 5-7-5" in out and "mora-constrained" in out


@pytest.mark.parametrize(("argv", "words"), [
    (["compose", "--base", "{base}", ""], "empty"),
    (["compose", "--base", "{base}", "--form", "9-9", "山寺の 鐘にほどける 霞かな"], "form"),
    (["compose", "--model", "x", "山寺の 鐘にほどける 霞かな"], "--models"),
    (["compose", "--models", "/nonexistent/models.yaml", "山寺の 鐘にほどける 霞かな"],
     "not found"),
    (["compose", "--base", "/nonexistent/base", "山寺の 鐘にほどける 霞かな"], "does not exist"),
])
def test_errors_exit_2_with_a_message(tiny_base, capsys, argv, words):
    argv = [a.replace("{base}", str(tiny_base)) for a in argv]
    code, _, err = run(argv, capsys)
    assert code == 2
    assert words in err and "Traceback" not in err
