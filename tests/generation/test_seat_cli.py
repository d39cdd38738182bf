"""`tsukeku compose --chain FILE` (the next verse of a renga for its seat) and the
`--season/--topic/--profile` overrides, on the real tiny base; errors exit 2."""

from __future__ import annotations

import json

import pytest

from tsukeku.cli import main
from tsukeku.corpus.bundled import bundled_chains
from tsukeku.prosody import check_form
from tsukeku.renga.check import check_candidate
from tsukeku.renga.classify import classify
from tsukeku.renga.saijiki import default_path

pytestmark = pytest.mark.skipif(
    not default_path().exists(), reason="the bundled saijiki is not written yet"
)


def run(argv, capsys):
    try:
        main(argv)
        code = 0
    except SystemExit as exit_:
        code = exit_.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture()
def hankasen_prefix(tmp_path):
    """The first four verses of a bundled 半歌仙, as one chain record (its form given)."""
    chain = bundled_chains()[3]
    assert chain.form == "半歌仙"
    verses = [v.model_dump() for v in chain.verses[:4]]
    path = tmp_path / "session.jsonl"
    path.write_text(json.dumps({"id": "s", "form": "半歌仙", "verses": verses}, ensure_ascii=False))
    return path, verses


def test_compose_next_verse_of_a_chain(tiny_base, capsys, hankasen_prefix):
    path, verses = hankasen_prefix
    argv = ["compose", "--base", str(tiny_base), "--json", "-n", "2", "--seed", "3"]
    code, out, err = run([*argv, "--chain", str(path)], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["seat"]["number"] == 5 and result["seat"]["topics"] == ["月"]
    assert result["form"] == "5-7-5" and result["seat"]["describe"].startswith("秋・月の座")
    assert set(result) >= {"previous", "form", "candidates", "model", "constrained", "notes"}
    for cand in result["candidates"]:
        c = classify(cand["text"])
        assert check_form(cand["text"], "5-7-5").ok and c.season == "秋" and "月" in c.topics
        errors = [v for v in check_candidate(verses, cand["text"], "半歌仙")
                  if v.severity == "error"]
        assert not errors


def test_season_and_topic_overrides_plain_text_chain(tiny_base, capsys, tmp_path):
    path = tmp_path / "chain.txt"
    path.write_text("\n".join(v.text for v in bundled_chains()[3].verses[:6]))
    argv = ["compose", "--base", str(tiny_base), "--json", "-n", "1", "--seed", "1",
            "--chain", str(path), "--profile", "hankasen", "--season", "冬"]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["seat"]["number"] == 7 and result["seat"]["seasons"] == ["冬"]
    assert all(classify(c["text"]).season == "冬" for c in result["candidates"])
    code, out, _ = run(["compose", "--base", str(tiny_base), "-n", "1", "--seed", "1",
                        "--chain", str(path), "--profile", "hankasen"], capsys)
    assert code == 0 and "座 7:" in out


@pytest.mark.parametrize(("extra", "words"), [
    (["--topic", "恋"], "月 or 花"),
    (["--season", "梅雨"], "season"),
    (["山寺の 鐘にほどける 霞かな"], "not both"),
    (["--form", "7-7"], "does not fit"),
])
def test_seat_errors_exit_2(tiny_base, capsys, hankasen_prefix, extra, words):
    path, _ = hankasen_prefix
    code, _, err = run(["compose", "--base", str(tiny_base), "--chain", str(path), *extra],
                       capsys)
    assert code == 2 and words in err and "Traceback" not in err


def test_chain_file_errors(tiny_base, capsys, tmp_path):
    many = tmp_path / "chains.jsonl"
    lines = [json.dumps({"id": c.id, "form": c.form, "verses": [v.model_dump() for v in
                                                                c.verses]}, ensure_ascii=False)
             for c in bundled_chains()[3:5]]
    many.write_text("\n".join(lines))
    code, _, err = run(["compose", "--base", str(tiny_base), "--chain", str(many)], capsys)
    assert code == 2 and "2 chains" in err
    one = tmp_path / "done.jsonl"
    one.write_text(lines[0])  # a finished 半歌仙: no seat left
    code, _, err = run(["compose", "--base", str(tiny_base), "--chain", str(one)], capsys)
    assert code == 2 and "complete" in err
    code, _, err = run(["compose", "--base", str(tiny_base)], capsys)
    assert code == 2 and "--chain" in err
