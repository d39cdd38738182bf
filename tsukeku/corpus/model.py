"""The records of a renga corpus: a verse (句), a link (付け: 前句 → 付句) and a chain (an ordered
renga such as a 歌仙).

They are pydantic models so that every record read from a file is validated in one place, and
`to_json()` writes exactly the fields that were set: a JSON Lines file in the canonical form
(`json.dumps(record, ensure_ascii=False)`, one per line) reads and writes back byte for byte.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from tsukeku.prompts import Season

Kind = Literal["長句", "短句"]
ChainForm = Literal["歌仙", "半歌仙", "百韻", "短連歌", "other"]

KINDS: tuple[str, ...] = ("長句", "短句")
# Verses in a complete chain of each form (None: no fixed length).
CHAIN_LENGTHS: dict[str, int | None] = {
    "歌仙": 36,
    "半歌仙": 18,
    "百韻": 100,
    "短連歌": 2,
    "other": None,
}
KIND_FORM: dict[str, str] = {"長句": "5-7-5", "短句": "7-7"}
FORM_KIND: dict[str, str] = {v: k for k, v in KIND_FORM.items()}
KU_COUNT: dict[str, int] = {"長句": 3, "短句": 2}
DIRECTIONS: tuple[str, ...] = ("長句→短句", "短句→長句")
MAX_CONTEXT = 2

_KANA_READING = re.compile(r"^[\u3041-\u309f\u30a0-\u30ff ]+$")


def kind_for_form(form: str) -> str:
    """ "5-7-5" → 長句, "7-7" → 短句."""
    try:
        return FORM_KIND[form]
    except KeyError:
        raise ValueError(f"not a verse form of renga: {form!r} (expected 5-7-5 or 7-7)") from None


def chain_form_for_length(n: int) -> str:
    """The chain form a complete chain of n verses has ("other" when none fits)."""
    for form, length in CHAIN_LENGTHS.items():
        if length == n:
            return form
    return "other"


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_json(self) -> dict[str, Any]:
        """The fields that were set (defaults left out), in the schema's order."""
        return self.model_dump(mode="json", exclude_unset=True)

    def to_line(self) -> str:
        return json.dumps(self.to_json(), ensure_ascii=False)


class Verse(_Record):
    """One verse: a 長句 (5-7-5, three ku) or a 短句 (7-7, two ku), the ku separated by one ASCII
    space. `reading` is the recited reading in kana, spaced per ku like `text`. `jiamari` marks a
    verse that deliberately has a ku one mora long (字余り)."""

    text: str
    reading: str | None = None
    kind: Kind
    season: Season | None = None
    topics: tuple[str, ...] = ()
    author: str | None = None
    jiamari: bool = False

    @field_validator("text")
    @classmethod
    def _text_is_spaced_ku(cls, v: str) -> str:
        if not v or v != v.strip():
            raise ValueError("text is empty or has leading/trailing spaces")
        if re.search(r"[\t\r\n\u3000]|  ", v):
            raise ValueError(
                "text must separate ku by one ASCII space (no tabs, newlines, double or "
                "full-width spaces)"
            )
        return v

    @field_validator("reading")
    @classmethod
    def _reading_is_kana(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not _KANA_READING.match(v) or v != v.strip() or "  " in v:
            raise ValueError(f"reading must be kana, ku separated by one ASCII space: {v!r}")
        return v

    @model_validator(mode="after")
    def _ku_count_matches_kind(self) -> Verse:
        want = KU_COUNT[self.kind]
        got = len(self.text.split(" "))
        if got != want:
            raise ValueError(f"a {self.kind} has {want} ku but text {self.text!r} has {got}")
        if self.reading is not None and len(self.reading.split(" ")) != want:
            raise ValueError(f"reading {self.reading!r} must be spaced into {want} ku like text")
        return self

    @property
    def form(self) -> str:
        return KIND_FORM[self.kind]

    @property
    def ku(self) -> list[str]:
        return self.text.split(" ")


def _check_alternation(verses: list[Verse], what: str) -> None:
    for i in range(1, len(verses)):
        if verses[i].kind == verses[i - 1].kind:
            raise ValueError(
                f"{what}: verse {i + 1} is a {verses[i].kind} after a {verses[i - 1].kind} "
                "(長句 and 短句 must alternate)"
            )


class Link(_Record):
    """One 付け: the 前句 (`previous`), the 付句 (`next`) and up to two earlier verses
    (`context`, oldest first) so that the 打越 can be seen. `group` names the poem or chain the
    link comes from: dataset splits never separate a group."""

    id: str
    previous: Verse
    next: Verse
    context: list[Verse] = []
    source: str | None = None
    group: str | None = None

    @model_validator(mode="after")
    def _alternates(self) -> Link:
        if len(self.context) > MAX_CONTEXT:
            raise ValueError(f"context holds at most {MAX_CONTEXT} verses, got {len(self.context)}")
        _check_alternation([*self.context, self.previous, self.next], f"link {self.id}")
        return self

    @property
    def direction(self) -> str:
        return f"{self.previous.kind}→{self.next.kind}"


class Chain(_Record):
    """An ordered renga. Consecutive verses alternate 長句/短句; a 歌仙, 半歌仙 or 百韻 starts
    with a 長句 (the 発句)."""

    id: str
    title: str | None = None
    form: ChainForm
    verses: list[Verse]
    source: str | None = None

    @model_validator(mode="after")
    def _well_formed(self) -> Chain:
        if len(self.verses) < 2:
            raise ValueError(f"chain {self.id} has {len(self.verses)} verse(s); a chain needs two")
        length = CHAIN_LENGTHS[self.form]
        if length is not None and len(self.verses) > length:
            raise ValueError(
                f"chain {self.id}: a {self.form} has {length} verses, got {len(self.verses)}"
            )
        if self.form in ("歌仙", "半歌仙", "百韻") and self.verses[0].kind != "長句":
            raise ValueError(f"chain {self.id}: a {self.form} starts with a 長句 (the 発句)")
        _check_alternation(self.verses, f"chain {self.id}")
        return self

    @property
    def complete(self) -> bool:
        """Whether the chain has all the verses its form asks for."""
        length = CHAIN_LENGTHS[self.form]
        return length is None or len(self.verses) == length

    def links(self, source: str | None = None) -> Iterator[Link]:
        """Each consecutive 付け of the chain, with up to two earlier verses as context."""
        src = source or self.source
        for i in range(1, len(self.verses)):
            yield Link(
                id=f"{self.id}-{i:03d}",
                previous=self.verses[i - 1],
                next=self.verses[i],
                context=self.verses[max(0, i - 1 - MAX_CONTEXT) : i - 1],
                source=src,
                group=self.id,
            )

