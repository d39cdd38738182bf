"""Prompt templates: render / target / parse round trips, save / load, and the chat template of a
tokenizer built here (no download)."""

import json

import pytest

from tsukeku.errors import ConfigError, InputError
from tsukeku.prompts import (
    TEMPLATE_NAMES,
    PromptTemplate,
    find_template,
    get_template,
    resolve_template,
)

PREVIOUS = "朝霧の 晴れゆく川に 舟を出す"
NEXT = "櫂の雫に 秋の日の射す"
CONTEXT = ["山の端に 月を残して 鳥の声", "露の小道を 踏みわけて行く"]

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# A template that uses the tokenizer's special tokens (bos/eos), Llama-2 style.
INST = (
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}[INST] {{ m['content'] }}"
    " [/INST]{% elif m['role'] == 'assistant' %} {{ m['content'] }} {{ eos_token }}{% endif %}"
    "{% endfor %}"
)


def _tokenizer(chat_template: str | None):
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    tok = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="<unk>")),
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
    )
    if chat_template is not None:
        tok.chat_template = chat_template
    return tok


@pytest.mark.parametrize("name", ["completion", "instruction", "instruction-rinna"])
def test_render_target_parse_round_trip(name):
    tpl = get_template(name)
    prompt = tpl.render(PREVIOUS, "7-7", CONTEXT)
    assert PREVIOUS in prompt and all(c in prompt for c in CONTEXT)
    target = tpl.target(NEXT)
    assert target.startswith(NEXT) and target != NEXT  # an end marker follows
    # What a model would generate: the target, then anything after the end.
    assert tpl.parse(target + "次の行に続く余計な文") == NEXT
    assert tpl.parse(NEXT + "</s>") == NEXT


def test_completion_prompt_is_compact_and_names_the_form():
    tpl = get_template("completion")
    assert tpl.render(PREVIOUS, "7-7") == f"前句：{PREVIOUS}\n付句（7-7）："
    assert tpl.render("霜の夜の 灯ひとつ", "5-7-5").endswith("付句（5-7-5）：")
    assert tpl.render(PREVIOUS, "7-7", CONTEXT).splitlines()[:2] == [f"句：{c}" for c in CONTEXT]


def test_target_separates_ku_by_single_spaces():
    tpl = get_template("completion")
    assert tpl.target("櫂の雫に\u3000\u3000秋の日の射す ") == "櫂の雫に 秋の日の射す\n"
    with pytest.raises(InputError):
        tpl.target("  ")


def test_parse_strips_labels_quotes_and_extra_space():
    tpl = get_template("instruction")
    assert tpl.parse("付句：「櫂の雫に　秋の日の射す」\n### 指示") == NEXT
    assert tpl.parse("  櫂の雫に   秋の日の射す<|endoftext|>ごみ") == NEXT


def test_rinna_style_uses_its_markers():
    tpl = get_template("instruction", style="rinna")
    prompt = tpl.render(PREVIOUS, "7-7", CONTEXT)
    assert prompt.startswith("ユーザー: ") and prompt.endswith("<NL>システム: ")
    assert "\n" not in prompt
    assert tpl.target(NEXT) == NEXT + "<NL>"
    assert tpl.parse(NEXT + "<NL>ユーザー: ") == NEXT


def test_bad_form_and_unknown_names_are_clear_errors():
    with pytest.raises(InputError, match="5-7-5"):
        get_template("completion").render(PREVIOUS, "5-7")
    with pytest.raises(ConfigError, match="completion"):
        get_template("haiku")
    with pytest.raises(ConfigError, match="style"):
        get_template("instruction", style="alpaca-en")


@pytest.mark.parametrize("name", ["completion", "instruction", "instruction-rinna"])
def test_save_and_load_give_the_same_template(tmp_path, name):
    tpl = get_template(name)
    path = tpl.save(tmp_path)
    assert path.name == "prompt.json"
    again = PromptTemplate.load(tmp_path)
    assert again.to_dict() == tpl.to_dict()
    assert again.render(PREVIOUS, "7-7", CONTEXT) == tpl.render(PREVIOUS, "7-7", CONTEXT)
    assert PromptTemplate.from_dict(json.loads(path.read_text())).target(NEXT) == tpl.target(NEXT)


def test_load_reports_a_missing_or_broken_file(tmp_path):
    with pytest.raises(ConfigError, match="prompt.json"):
        PromptTemplate.load(tmp_path)
    (tmp_path / "prompt.json").write_text("{")
    with pytest.raises(ConfigError, match="JSON"):
        PromptTemplate.load(tmp_path)
    (tmp_path / "prompt.json").write_text('{"name": "sonnet"}')
    with pytest.raises(ConfigError, match="unknown prompt template"):
        PromptTemplate.load(tmp_path)


def test_chat_template_renders_with_the_tokenizer_and_derives_its_end_marker():
    tok = _tokenizer(CHATML)
    tpl = get_template("chat", tok)
    prompt = tpl.render(PREVIOUS, "7-7", CONTEXT)
    messages = [
        {"role": "user", "content": prompt.split("<|im_start|>user\n")[1].split("<|im_end|>")[0]}
    ]
    assert prompt == tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert PREVIOUS in prompt and prompt.endswith("<|im_start|>assistant\n")
    assert tpl.end == "<|im_end|>\n"
    assert tpl.target(NEXT) == NEXT + "<|im_end|>\n"
    assert tpl.parse(tpl.target(NEXT) + "<|im_start|>user\n…") == NEXT


@pytest.mark.parametrize("template", [CHATML, INST])
def test_chat_template_saved_renders_the_same_without_the_tokenizer(tmp_path, template):
    tok = _tokenizer(template)
    tpl = get_template("chat", tok)
    tpl.save(tmp_path)
    loaded = PromptTemplate.load(tmp_path)  # no tokenizer: rendered from prompt.json alone
    assert loaded.render(PREVIOUS, "7-7", CONTEXT) == tpl.render(PREVIOUS, "7-7", CONTEXT)
    assert loaded.target(NEXT) == tpl.target(NEXT)
    if template is INST:
        assert tpl.render(PREVIOUS, "7-7").startswith("<s>[INST] ")
        assert tpl.target(NEXT) == f"{NEXT} </s>"


def test_chat_template_of_a_saved_tokenizer(tmp_path):
    from transformers import AutoTokenizer

    _tokenizer(CHATML).save_pretrained(tmp_path / "tok")
    tok = AutoTokenizer.from_pretrained(tmp_path / "tok")
    assert get_template("chat", tok).target(NEXT) == NEXT + "<|im_end|>\n"


def test_chat_without_a_chat_template_is_a_config_error():
    with pytest.raises(ConfigError, match="chat template"):
        get_template("chat", _tokenizer(None))
    with pytest.raises(ConfigError, match="none was given"):
        get_template("chat")


def test_every_template_name_is_documented():
    assert set(TEMPLATE_NAMES) == {"completion", "instruction", "chat"}


def test_find_template_looks_beside_the_adapter_then_its_run_dir(tmp_path):
    run = tmp_path / "run"
    (run / "adapter").mkdir(parents=True)
    assert find_template(run / "adapter", None).name == "completion"  # nothing saved: default
    get_template("instruction-rinna").save(run)
    found = find_template(None, run / "adapter")
    assert found.name == "instruction" and found.to_dict() == get_template("instruction-rinna").to_dict()


def test_resolve_template_by_object_name_path_or_model_dirs(tmp_path):
    tpl = get_template("instruction")
    assert resolve_template(tpl, None) is tpl
    assert resolve_template("instruction-rinna", None).to_dict() == get_template(
        "instruction-rinna"
    ).to_dict()
    tpl.save(tmp_path)
    assert resolve_template(str(tmp_path / "prompt.json"), None).name == "instruction"
    assert resolve_template(None, None, tmp_path).name == "instruction"
    with pytest.raises(ConfigError, match="neither a template name"):
        resolve_template("no-such-template", None)
