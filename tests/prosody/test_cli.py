"""`tsukeku count | check | split`: JSON shapes, human output, exit status 2 on bad input."""

import json
import subprocess
import sys

import pytest

from tsukeku.cli import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return exc.value.code or 0, out, err


def test_count_json_one_line_per_text(capsys):
    code, out, _ = run(capsys, "count", "--json", "雪の夜の しずかにふける 山の里", "露の玉")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 2
    first, second = lines
    assert first == {
        "text": "雪の夜の しずかにふける 山の里",
        "reading": "ゆきのよの しずかにふける やまのさと",
        "morae": 17,
        "ku_morae": [5, 7, 5],
    }
    assert second["reading"] == "つゆのたま" and second["ku_morae"] == [5]


def test_count_human_output(capsys):
    code, out, _ = run(capsys, "count", "雪の夜の しずかにふける 山の里")
    assert code == 0
    assert "ゆきのよの しずかにふける やまのさと" in out and "5+7+5 = 17" in out
    assert len(out.strip().splitlines()) == 1


def test_check_json(capsys):
    code, out, _ = run(
        capsys, "check", "--json", "--form", "5-7-5", "おもいいづる 庭の紅葉の 色ふかし"
    )
    assert code == 0
    d = json.loads(out)
    assert set(d) == {"ok", "form", "ku", "ku_morae", "deviations", "readings"}
    assert d["ok"] is False and d["form"] == "5-7-5" and d["ku_morae"] == [6, 7, 5]
    assert d["deviations"][0]["kind"] == "字余り" and d["deviations"][0]["ku"] == "おもいいづる"


def test_check_auto_and_reading_option(capsys):
    code, out, _ = run(
        capsys, "check", "--json", "雪の夜の しずかにふける 山の里", "--reading",
        "ゆきのよの しずかにふける やまのさと",
    )  # fmt: skip
    assert code == 0 and json.loads(out)["ok"] is True


def test_check_human_output_names_the_deviation(capsys):
    code, out, _ = run(capsys, "check", "ゆきふる よるのしずけさ", "--form", "7-7")
    assert code == 0 and "字足らず" in out and "7-7" in out


def test_split_json_and_text(capsys):
    code, out, _ = run(capsys, "split", "--json", "--form", "5-7-5", "雪の夜のしずかにふける山の里")
    assert code == 0
    d = json.loads(out)
    assert d["ku"] == ["雪の夜の", "しずかにふける", "山の里"] and d["form"] == "5-7-5"
    assert d["ku_morae"] == [5, 7, 5] and len(d["readings"]) == 3
    code, out, _ = run(capsys, "split", "雪の夜のしずかにふける山の里")
    assert out.strip() == "雪の夜の しずかにふける 山の里"


@pytest.mark.parametrize(
    "args",
    [
        ["count", ""],
        ["count", "、。"],
        ["count", "雪😀"],
        ["check", "--form", "5-7", "雪の夜の"],
        ["split", "--form", "5-7-5", "ゆき"],
        ["count", "あ" * 1001],
    ],
)
def test_bad_input_exits_2_with_a_message(capsys, args):
    code, out, err = run(capsys, *args)
    assert code == 2
    assert err.startswith("error: ") and "Traceback" not in err


def test_bad_input_exits_2_from_the_installed_command():
    proc = subprocess.run(
        [sys.executable, "-m", "tsukeku", "count", "--json", "雪\x07"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "control character" in proc.stderr and "Traceback" not in proc.stderr
