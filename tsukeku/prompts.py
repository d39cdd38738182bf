"""Prompt templates: how a 前句 (and the verses before it) is put to a model, what the model
must answer (the 付句, its ku separated by single spaces, then an end marker) and how the 付句 is
read back out of a completion.

The same template is saved with every dataset and every training run (`prompt.json`), so that
serving builds prompts exactly as training did.

- `completion`: a compact plain-text prompt for base LMs (and the tiny offline base, whose
  context is short).
- `instruction`: a Japanese instruction for instruction-tuned bases, in the generic
  `### 指示 / ### 応答` layout or rinna's `ユーザー: …<NL>システム: ` layout (`style="rinna"`).
- `chat`: the base's own chat template (`tokenizer.apply_chat_template`); the template text is
  stored in prompt.json so that it renders the same without the tokenizer.

Every template can also carry the seat (座) of the 付句: its season and the topics it must
carry (月, 花), e.g. a `座：秋・月` line before the completion's last line. Training renders the
seat from the corpus labels of the 付句 and the composer from `tsukeku.renga.seat`. A template
saved before seats existed (a prompt.json without `seat_lines`) renders no seat, so a model
tuned on it gets the prompts it was trained on; without a seat every template renders as before.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args

from tsukeku.errors import ConfigError, InputError
from tsukeku.io import write_json_atomic

FILE_NAME = "prompt.json"
FORMS = ("5-7-5", "7-7")
FORM_NAMES = {"5-7-5": "長句（五七五）", "7-7": "短句（七七）"}
# Text that ends a completion whatever the template: end-of-sequence strings of common bases.
COMMON_STOPS = ("</s>", "<|endoftext|>", "<|im_end|>", "<|eot_id|>", "<eos>")
_LEADING_LABEL = re.compile(r"^(?:付句|応答|システム|答え?)\s*(?:（[^）]*）|\([^)]*\))?\s*[:：]\s*")
_QUOTES = "「」『』\"'“”"


# A verse's season: one of the four, or 雑 (none). Here, the lowest layer that needs it, so that
# the corpus records (tsukeku.corpus.model, above prompts) share this one list.
Season = Literal["春", "夏", "秋", "冬", "雑"]
SEASONS: tuple[str, ...] = get_args(Season)
SEAT_TOPICS = ("月", "花")  # what a seat can require; other topics are not put in prompts
_TOPIC_WORDS = {"月": "月", "花": "花（正花）"}


@dataclass(frozen=True)
class SeatHint:
    """What a prompt says of the seat: the season and the required topics (月, 花)."""

    season: str
    topics: tuple[str, ...] = ()

    @classmethod
    def of(cls, seat: Any) -> SeatHint | None:
        """From a `tsukeku.renga.seat.Seat`, a SeatHint, a mapping with `season`/`topics` (a
        corpus record's labels) or None. Topics other than 月 and 花 are dropped."""
        if seat is None or isinstance(seat, SeatHint):
            return seat
        if isinstance(seat, dict):
            if seat.get("season") is None:
                return None  # a record without labels (a dataset built before seats)
            season, topics = seat.get("season"), seat.get("topics") or ()
        else:
            season, topics = getattr(seat, "season", None), getattr(seat, "topics", ()) or ()
        if season not in SEASONS:
            raise InputError(f"a seat's season is one of {' '.join(SEASONS)}, got {season!r}")
        return cls(season, tuple(t for t in SEAT_TOPICS if t in topics))

    def label(self) -> str:
        """秋・月, 春・花, 雑."""
        return "・".join((self.season, *self.topics))

    def instruction(self) -> str:
        what = "季語を入れない雑の句" if self.season == "雑" else f"{self.season}の季語を入れた句"
        if self.topics:
            what += "で、" + "と".join(_TOPIC_WORDS[t] for t in self.topics) + "を詠み込む"
        return f"座：{self.label()}（{what}）"


def training_seat(record: dict[str, Any]) -> SeatHint | None:
    """The seat a training example's prompt shows: the 付句's corpus labels (season, 月/花) for
    half of the links (fixed by a hash of the link), none for the other half — so a tuned model
    learns 秋・月 → a verse with the moon and still knows the prompt without a seat (plain
    composing of a 前句)."""
    key = f"{record.get('previous', '')}|{record.get('next', '')}".encode()
    if hashlib.sha1(key).digest()[0] % 2:
        return None
    return SeatHint.of(record)


def clean_verse(text: str) -> str:
    """Collapses any whitespace (full-width included) to single ASCII spaces."""
    return " ".join(text.split())


def _check_form(next_form: str) -> str:
    if next_form not in FORMS:
        raise InputError(f"the 付句's form must be one of {', '.join(FORMS)}, got {next_form!r}")
    return next_form


@dataclass
class PromptTemplate:
    """Base class; use `get_template` or `PromptTemplate.load`."""

    name: ClassVar[str] = ""
    end: str = "\n"
    stops: list[str] = field(default_factory=lambda: list(COMMON_STOPS))
    # whether prompts carry the seat; False for a prompt.json saved before seats (see from_dict)
    seat_lines: bool = True

    def render(
        self, previous: str, next_form: str, context: Sequence[str] = (), seat: Any = None
    ) -> str:
        """The prompt for a 付句 of `next_form` after `previous` (and `context`, oldest first);
        `seat` (a Seat, SeatHint or labels mapping) adds the seat's season and topics."""
        raise NotImplementedError

    def _seat(self, seat: Any) -> SeatHint | None:
        return SeatHint.of(seat) if self.seat_lines else None

    def target(self, next_text: str) -> str:
        """What the model must produce after the prompt: the 付句, ku separated by single
        spaces, then the end marker (training appends the tokenizer's eos after it)."""
        text = clean_verse(next_text)
        if not text:
            raise InputError("the 付句 is empty")
        return text + self.end

    def parse(self, generated: str) -> str:
        """The 付句 out of a completion: up to the end marker (or a known end-of-sequence
        string), without labels, quotes or extra spaces."""
        cut = len(generated)
        for stop in [self.end.strip() or self.end, "\n", *self.stops]:
            if stop:
                i = generated.find(stop)
                if i != -1:
                    cut = min(cut, i)
        text = _LEADING_LABEL.sub("", generated[:cut].strip())
        return clean_verse(text.strip(_QUOTES + " 　"))

    def example(
        self,
        previous: str,
        next_text: str,
        next_form: str,
        context: Sequence[str] = (),
        seat: Any = None,
    ) -> tuple[str, str]:
        """(prompt, target) of one training link."""
        return self.render(previous, next_form, context, seat), self.target(next_text)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        for f in fields(self):
            if f.name != "tokenizer":
                value = getattr(self, f.name)
                out[f.name] = copy.deepcopy(value) if isinstance(value, list | dict) else value
        return out

    @staticmethod
    def from_dict(data: dict[str, Any], tokenizer: Any = None) -> PromptTemplate:
        data = dict(data)
        name = data.pop("name", None)
        data.setdefault("seat_lines", False)  # saved before seats: its model never saw one
        cls = _TEMPLATES.get(name)
        if cls is None:
            raise ConfigError(f"unknown prompt template {name!r}; known: {', '.join(_TEMPLATES)}")
        try:
            tpl = cls(**data)
        except TypeError as err:
            raise ConfigError(f"bad prompt template {name!r}: {err}") from None
        if tokenizer is not None and isinstance(tpl, ChatTemplate):
            tpl.tokenizer = tokenizer
        return tpl

    def save(self, directory: str | os.PathLike) -> Path:
        return write_json_atomic(Path(directory) / FILE_NAME, self.to_dict())

    @staticmethod
    def load(path: str | os.PathLike, tokenizer: Any = None) -> PromptTemplate:
        """From a directory holding prompt.json, or the file itself."""
        p = Path(path)
        if p.is_dir():
            p = p / FILE_NAME
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{p}: no prompt template (prompt.json) there") from None
        except json.JSONDecodeError as err:
            raise ConfigError(f"{p}: not valid JSON ({err.msg})") from None
        return PromptTemplate.from_dict(data, tokenizer)


@dataclass
class CompletionTemplate(PromptTemplate):
    """Plain text for base LMs, kept short for small contexts:

    句：<earlier verse>
    前句：<前句>
    付句（7-7）：
    """

    name: ClassVar[str] = "completion"

    def render(
        self, previous: str, next_form: str, context: Sequence[str] = (), seat: Any = None
    ) -> str:
        lines = [f"句：{clean_verse(c)}" for c in context]
        lines.append(f"前句：{clean_verse(previous)}")
        hint = self._seat(seat)
        if hint is not None:
            lines.append(f"座：{hint.label()}")
        lines.append(f"付句（{_check_form(next_form)}）：")
        return "\n".join(lines)


def _instruction_body(
    previous: str, next_form: str, context: Sequence[str], seat: SeatHint | None = None
) -> str:
    form = _check_form(next_form)
    parts = [
        f"連歌の付合です。次の前句に付ける{FORM_NAMES[form]}を一句だけ詠んでください。"
        "句の切れ目は空白で区切ってください。"
    ]
    if context:
        parts.append("これまでの句：\n" + "\n".join(clean_verse(c) for c in context))
    parts.append(f"前句：{clean_verse(previous)}")
    if seat is not None:
        parts.append(seat.instruction())
    return "\n\n".join(parts)


@dataclass
class InstructionTemplate(PromptTemplate):
    """A Japanese instruction. style "generic": `### 指示:` … `### 応答:`; style "rinna":
    rinna's instruction-sft layout `ユーザー: …<NL>システム: ` (newlines written as <NL>)."""

    name: ClassVar[str] = "instruction"
    style: str = "generic"

    def __post_init__(self) -> None:
        if self.style not in ("generic", "rinna"):
            raise ConfigError(f"instruction style is 'generic' or 'rinna', got {self.style!r}")
        if self.style == "rinna" and self.end == "\n":
            self.end = "<NL>"

    def render(
        self, previous: str, next_form: str, context: Sequence[str] = (), seat: Any = None
    ) -> str:
        body = _instruction_body(previous, next_form, context, self._seat(seat))
        if self.style == "rinna":
            return f"ユーザー: {body.replace(chr(10), '<NL>')}<NL>システム: "
        return f"### 指示:\n{body}\n\n### 応答:\n"


@dataclass
class ChatTemplate(PromptTemplate):
    """The base's chat template: the instruction as the user turn; the 付句 is the assistant
    turn, closed by whatever the template puts after an assistant message."""

    name: ClassVar[str] = "chat"
    chat_template: str = ""
    special_tokens: dict[str, str] = field(default_factory=dict)
    system: str | None = None
    tokenizer: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.chat_template:
            raise ConfigError("the chat prompt template needs the tokenizer's chat template")
        if self.end == "\n":  # not derived yet: what the template writes after a reply
            self.end = self._derive_end()

    def _messages(self, user: str, answer: str | None = None) -> list[dict[str, str]]:
        msgs = [{"role": "system", "content": self.system}] if self.system else []
        msgs.append({"role": "user", "content": user})
        if answer is not None:
            msgs.append({"role": "assistant", "content": answer})
        return msgs

    def _apply(self, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
        if self.tokenizer is not None:
            return self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=add_generation_prompt
            )
        return _render_jinja(
            self.chat_template, messages, add_generation_prompt, self.special_tokens
        )

    def _derive_end(self) -> str:
        probe = "付句ノ見本"
        prompt = self._apply(self._messages("問"), True)
        full = self._apply(self._messages("問", probe), False)
        if full.startswith(prompt) and probe in full[len(prompt) :]:
            return full[len(prompt) :].split(probe, 1)[1]
        return self.special_tokens.get("eos_token", "")

    def render(
        self, previous: str, next_form: str, context: Sequence[str] = (), seat: Any = None
    ) -> str:
        body = _instruction_body(previous, next_form, context, self._seat(seat))
        return self._apply(self._messages(body), True)


def _render_jinja(
    template: str,
    messages: list[dict[str, str]],
    add_generation_prompt: bool,
    special: dict[str, str],
) -> str:
    """Renders a chat template the way transformers does (sandboxed jinja, trimmed blocks)."""
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )
    env.filters["tojson"] = lambda x, indent=None, **_: json.dumps(
        x, ensure_ascii=False, indent=indent
    )
    env.globals["raise_exception"] = raise_exception
    return env.from_string(template).render(
        messages=messages, add_generation_prompt=add_generation_prompt, **special
    )


_TEMPLATES: dict[str, type[PromptTemplate]] = {
    "completion": CompletionTemplate,
    "instruction": InstructionTemplate,
    "chat": ChatTemplate,
}
TEMPLATE_NAMES = tuple(_TEMPLATES)


def get_template(name: str, tokenizer: Any = None, **options: Any) -> PromptTemplate:
    """A template by name: `completion`, `instruction` (option `style`: generic | rinna; the
    name `instruction-rinna` is short for style rinna) or `chat` (needs a tokenizer that has a
    chat template)."""
    if name == "instruction-rinna":
        name, options = "instruction", {**options, "style": "rinna"}
    if name == "chat":
        template = getattr(tokenizer, "chat_template", None) if tokenizer is not None else None
        if not template:
            raise ConfigError(
                "the chat prompt needs a tokenizer with a chat template, and "
                + ("none was given" if tokenizer is None else "this tokenizer has none")
                + "; use the 'instruction' or 'completion' prompt instead"
            )
        special = {
            k: v
            for k in ("bos_token", "eos_token", "pad_token", "unk_token")
            if isinstance(v := getattr(tokenizer, k, None), str)
        }
        return ChatTemplate(
            chat_template=template, special_tokens=special, tokenizer=tokenizer, **options
        )
    cls = _TEMPLATES.get(name)
    if cls is None:
        raise ConfigError(
            f"unknown prompt template {name!r}; choose one of {', '.join(TEMPLATE_NAMES)}"
        )
    try:
        return cls(**options)
    except TypeError as err:
        raise ConfigError(f"bad option for the {name} prompt: {err}") from None


def find_template(*dirs: str | os.PathLike | None, tokenizer: Any = None) -> PromptTemplate:
    """The prompt template saved beside an adapter, in its run dir, or with the base
    (prompt.json); the `completion` template when none is there."""
    for d in dirs:
        if d is None:
            continue
        p = Path(d)
        for candidate in (p, p.parent):
            if (candidate / FILE_NAME).is_file():
                return PromptTemplate.load(candidate, tokenizer)
    return get_template("completion")


def resolve_template(spec: Any, tokenizer: Any, *dirs: str | os.PathLike | None) -> PromptTemplate:
    """A template given as an object, a name (completion, instruction, chat …), a prompt.json
    path or directory — or, when None, the one found beside the model (`find_template`)."""
    if spec is None:
        return find_template(*dirs, tokenizer=tokenizer)
    if isinstance(spec, PromptTemplate):
        return spec
    if str(spec) in (*TEMPLATE_NAMES, "instruction-rinna"):
        return get_template(str(spec), tokenizer)
    if Path(str(spec)).exists():
        return PromptTemplate.load(str(spec), tokenizer)
    raise ConfigError(
        f"prompt template {spec!r} is neither a template name "
        f"({', '.join(TEMPLATE_NAMES)}) nor a prompt.json file or directory"
    )
