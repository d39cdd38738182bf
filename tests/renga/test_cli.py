"""`tsukeku renga classify | check`: JSON shapes, exit codes 0/1/2, the three input formats."""

import json

import pytest

from tsukeku.cli import main
from tsukeku.renga.saijiki import default_path

pytestmark = pytest.mark.skipif(
    not default_path().exists(), reason="the bundled saijiki is not written yet"
)


def run(capsys, *args):
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out = capsys.readouterr()
    return exc.value.code or 0, out.out, out.err


def test_classify_json(capsys):
    code, out, _ = run(
        capsys,
        "renga",
        "classify",
        "--json",
        "名月を 待つ間の雲の 早きこと",
        "爽やかや ビルの窓拭く 人の影",
    )
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(rows) == 2
    assert rows[0]["season"] == "秋" and rows[0]["kigo"][0]["word"] == "名月"
    assert set(rows[1]) >= {"text", "season", "kigo", "topics", "kireji"}
    assert rows[1]["kireji"] == ["や"]


def test_check_chains_file_and_exit_codes(capsys, tmp_path):
    from importlib import resources

    chains = resources.files("tsukeku.corpus").joinpath("data", "chains.jsonl")
    code, out, _ = run(capsys, "renga", "check", "--json", str(chains))
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(rows) == 6 and all(r["errors"] == 0 for r in rows)
    assert {r["form"] for r in rows} == {"歌仙", "半歌仙"} and rows[0]["id"] == "kasen-01"

    # JSON Lines verse records without kind: a broken chain is reported, exit 1
    f = tmp_path / "c.jsonl"
    f.write_text(
        "\n".join(
            json.dumps({"text": t}, ensure_ascii=False)
            for t in ["恋しさに 筆の進まぬ 夜なりけり", "逢はぬ月日を 指に数ふる"]
        ),
        encoding="utf-8",
    )
    code, out, _ = run(capsys, "renga", "check", "--json", str(f))
    report = json.loads(out)
    assert code == 1 and report["verses"] == 2 and report["complete"] is False
    assert {"hokku_season", "omote_taboo"} <= {v["rule"] for v in report["violations"]}
    assert set(report["violations"][0]) == {"rule", "severity", "verses", "message"}


def test_check_plain_text_not_alternating(capsys, tmp_path):
    f = tmp_path / "c.txt"
    f.write_text(
        "風鈴や 路地の奥まで 子らの声\n夕立過ぎて 路地の涼しき 水打てば\n", encoding="utf-8"
    )
    code, out, _ = run(capsys, "renga", "check", "--json", "--form", "半歌仙", str(f))
    report = json.loads(out)
    assert code == 1 and report["form"] == "半歌仙"
    assert "alternation" in {v["rule"] for v in report["violations"]}
    code, out, _ = run(capsys, "renga", "check", str(f))  # human-readable
    assert code == 1 and "alternation" in out


@pytest.mark.parametrize(
    "content, message",
    [("", "empty"), ('{"text": "月"\n', "not valid JSON"), ('{"kind": "長句"}\n', "text")],
)
def test_check_bad_input_exits_2(capsys, tmp_path, content, message):
    f = tmp_path / "bad.jsonl"
    f.write_text(content, encoding="utf-8")
    code, _, err = run(capsys, "renga", "check", str(f))
    assert code == 2 and message in err and "Traceback" not in err


def test_check_missing_file_and_bad_options(capsys, tmp_path):
    code, _, err = run(capsys, "renga", "check", str(tmp_path / "none.jsonl"))
    assert code == 2 and "no such file" in err
    f = tmp_path / "c.txt"
    f.write_text("風鈴や 路地の奥まで 子らの声\n", encoding="utf-8")
    assert run(capsys, "renga", "check", "--form", "連句", str(f))[0] == 2
    code, _, err = run(capsys, "renga", "check", "--profile", "nosuch", str(f))
    assert code == 2 and "unknown rule profile" in err
