"""Prompts that carry the seat: the completion's `座：` line, the instruction and chat wording,
the seat from a corpus record's labels (training) and from `next_seat` (composing); without a
seat every template renders exactly as before, and a prompt.json saved before seats renders
none (its model never saw one)."""

import json

import pytest

from tsukeku.errors import InputError
from tsukeku.prompts import ChatTemplate, PromptTemplate, SeatHint, get_template

PREVIOUS = "霧の朝 川に舟出す 人の影"
CONTEXT = ("山寺の 鐘の音遠く 霞かな", "畦をつたひて 雪解けの水")
MOON = SeatHint("秋", ("月",))
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def test_no_seat_renders_as_before():
    tpl = get_template("completion")
    assert tpl.render(PREVIOUS, "7-7") == f"前句：{PREVIOUS}\n付句（7-7）："
    assert tpl.render(PREVIOUS, "7-7", seat=None) == tpl.render(PREVIOUS, "7-7")
    inst = get_template("instruction")
    assert "座：" not in inst.render(PREVIOUS, "7-7", CONTEXT)


def test_completion_carries_the_seat_before_the_last_line():
    prompt = get_template("completion").render(PREVIOUS, "5-7-5", CONTEXT, MOON)
    lines = prompt.splitlines()
    assert lines[-2:] == ["座：秋・月", "付句（5-7-5）："]
    assert lines[:2] == [f"句：{c}" for c in CONTEXT]
    zo = get_template("completion").render(PREVIOUS, "7-7", seat=SeatHint("雑"))
    assert zo.splitlines()[-2] == "座：雑"


@pytest.mark.parametrize("style", ["generic", "rinna"])
def test_instruction_carries_the_seat(style):
    tpl = get_template("instruction", style=style)
    prompt = tpl.render(PREVIOUS, "5-7-5", CONTEXT, SeatHint("春", ("花",)))
    assert "座：春・花（春の季語を入れた句で、花（正花）を詠み込む）" in prompt
    assert "座：雑（季語を入れない雑の句）" in tpl.render(PREVIOUS, "7-7", (), SeatHint("雑"))


def test_chat_carries_the_seat_and_renders_the_same_saved():
    tpl = ChatTemplate(chat_template=CHATML, special_tokens={"eos_token": "<|im_end|>"})
    prompt = tpl.render(PREVIOUS, "5-7-5", CONTEXT, MOON)
    assert "座：秋・月" in prompt and prompt.endswith("<|im_start|>assistant\n")
    again = PromptTemplate.from_dict(tpl.to_dict())
    assert again.render(PREVIOUS, "5-7-5", CONTEXT, MOON) == prompt


def test_seat_from_next_seat_and_from_record_labels():
    from tsukeku.renga.saijiki import default_path
    from tsukeku.renga.seat import next_seat

    if not default_path().exists():
        pytest.skip("the bundled saijiki is not written yet")
    chain = [
        {"text": "あ い う", "kind": "長句", "season": "夏", "topics": ["人倫"]},
        {"text": "え お", "kind": "短句", "season": "夏", "topics": ["衣類"]},
        {"text": "あ い う", "kind": "長句", "season": "雑", "topics": ["動物"]},
        {"text": "え お", "kind": "短句", "season": "雑", "topics": ["降物"]},
    ]
    hint = SeatHint.of(next_seat(chain, "半歌仙"))
    assert hint == MOON
    # a corpus record: the 付句's labels; topics other than 月/花 are not put in prompts
    assert SeatHint.of({"season": "秋", "topics": ["旅", "月"]}) == MOON
    assert SeatHint.of({"previous": "…"}) is None  # a record of a dataset built before seats
    with pytest.raises(InputError):
        SeatHint.of({"season": "梅雨"})


def test_training_example_carries_the_record_seat():
    tpl = get_template("completion")
    rec = {"previous": PREVIOUS, "next_form": "5-7-5", "season": "秋", "topics": ["月"]}
    prompt, target = tpl.example(rec["previous"], "名月を 仰ぐ舟人 棹を止め", "5-7-5", (), rec)
    assert prompt.splitlines()[-2] == "座：秋・月" and target.startswith("名月を")


def test_prompt_json_saved_before_seats_renders_no_seat(tmp_path):
    old = {"name": "completion", "end": "\n", "stops": ["</s>"]}  # no seat_lines: older file
    (tmp_path / "prompt.json").write_text(json.dumps(old))
    tpl = PromptTemplate.load(tmp_path)
    assert tpl.seat_lines is False
    assert tpl.render(PREVIOUS, "7-7", seat=MOON) == f"前句：{PREVIOUS}\n付句（7-7）："
    new = get_template("completion")
    new.save(tmp_path)
    assert PromptTemplate.load(tmp_path).render(PREVIOUS, "7-7", seat=MOON).count("座：") == 1


def test_training_shows_the_seat_for_half_of_the_links():
    from tsukeku.prompts import training_seat

    recs = [{"previous": f"前句{i}", "next": f"付句{i}", "season": "秋", "topics": ["月"]}
            for i in range(200)]
    seats = [training_seat(r) for r in recs]
    shown = [s for s in seats if s is not None]
    assert 70 <= len(shown) <= 130 and all(s == MOON for s in shown)
    assert seats == [training_seat(r) for r in recs]  # fixed by the link, not random
