"""A session as data: JSON Lines in the corpus chain format (`tsukeku.corpus.model.Chain`, so a
session played at the booth becomes training data and `tsukeku renga check` reads it), and a
printable page in vertical writing (縦書き) with the profile's sections (表/裏/名残), the authors
and the date. The page is rendered by Jinja2 with autoescaping: every visitor-written string
(title, names, verses) is escaped."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import ValidationError

from tsukeku.corpus.model import Chain, Verse
from tsukeku.errors import InputError, explain_validation
from tsukeku.sessions.turns import profile_of

SOURCE = "tsukeku-session"


def to_chain(record: Any) -> Chain:
    """The session's verses as a corpus chain (id `session-<id>`). Needs two verses."""
    if len(record.verses) < 2:
        raise InputError("a session exports once it has two verses")
    verses = []
    for v in record.verses:
        fields = {"text": v.text, "kind": v.kind, "author": v.author}
        if v.reading:
            fields["reading"] = v.reading
        if v.season:
            fields["season"] = v.season
        if v.topics:
            fields["topics"] = tuple(v.topics)
        try:
            verses.append(Verse(**fields))
        except ValidationError:
            # A reading the corpus refuses (not kana) is left out rather than the verse.
            fields.pop("reading", None)
            verses.append(Verse(**fields))
    try:
        return Chain(id=f"session-{record.id}", title=record.title, form=record.form,
                     verses=verses, source=SOURCE)
    except ValidationError as err:
        raise InputError(f"the session does not make a chain: {explain_validation(err)}") from None


def to_jsonl(record: Any) -> str:
    return to_chain(record).to_line() + "\n"


@lru_cache(maxsize=1)
def _template() -> Any:
    from jinja2 import Environment, PackageLoader, select_autoescape

    environment = Environment(loader=PackageLoader("tsukeku.sessions", "templates"),
                              autoescape=select_autoescape(default=True, default_for_string=True))
    return environment.get_template("session.html")


def to_html(record: Any) -> str:
    """The printable page: one block per section, verses right to left."""
    prof = profile_of(record)
    sections = []
    for (a, b), name in zip(prof.sections, _names(prof), strict=True):
        verses = [v for v in record.verses if a <= v.seat <= b]
        sections.append({"name": name, "first": a, "last": b, "verses": verses})
    authors = sorted({v.author for v in record.verses})
    return _template().render(record=record, sections=sections, authors=authors,
                              date=(record.updated_at or record.created_at)[:10],
                              complete=len(record.verses) >= prof.length)


def _names(prof: Any) -> list[str]:
    """Section names: the profile's, or 初折の表 … for a 歌仙 (two sheets of 表 and 裏)."""
    if prof.section_names and len(prof.section_names) == len(prof.sections):
        return list(prof.section_names)
    return [f"{a}–{b}" for a, b in prof.sections]
