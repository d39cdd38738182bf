"""Renga chains in plain text: one verse per line, a blank line between chains, an optional
`# title` line at the top of a chain and an optional `author:` prefix on each verse:

    # 川霧の巻
    連衆A: 川霧の 晴れゆく岸に 舟ひとつ
    連衆B: 櫂の雫に 秋の日の射す

A verse spaced into three ku is a 長句, into two a 短句; an unspaced verse is measured with
`tsukeku.prosody.check_form(text, "auto")` and spaced by it. Verses must alternate 長句/短句: a
chain that breaks the alternation is a bad record (reported at the offending line). A verse off
its form (字余り, 字足らず) is kept and reported as a warning.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from tsukeku.corpus.issues import IssueLog
from tsukeku.corpus.model import (
    KIND_FORM,
    Chain,
    Verse,
    chain_form_for_length,
    kind_for_form,
)
from tsukeku.corpus.readers.common import SourceData, normalise_space, read_text
from tsukeku.errors import InputError, explain_validation

_AUTHOR = re.compile(r"^([^\s:：]{1,24})\s*[:：]\s*(\S.*)$")


@dataclass
class _Block:
    title: str | None
    lines: list[tuple[int, str | None, str]]  # (line, author, verse text)


def _blocks(text: str) -> list[_Block]:
    blocks: list[_Block] = []
    cur: _Block | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = normalise_space(raw)
        if not line:
            cur = None
            continue
        if cur is None:
            cur = _Block(None, [])
            blocks.append(cur)
        if line.startswith("#"):
            if not cur.lines and cur.title is None:
                cur.title = line.lstrip("#").strip() or None
            continue  # a later '#' line is a comment
        m = _AUTHOR.match(line)
        author, verse = (m.group(1), m.group(2)) if m else (None, line)
        cur.lines.append((lineno, author, verse))
    return [b for b in blocks if b.lines]


def _verse(text: str, author: str | None) -> tuple[Verse, list[str]]:
    """The verse and the deviations from its form (empty when it keeps the form)."""
    from tsukeku.prosody import check_form

    parts = text.split(" ")
    if len(parts) in (2, 3):
        kind = "長句" if len(parts) == 3 else "短句"
        report = check_form(text, KIND_FORM[kind])
    elif len(parts) == 1:
        report = check_form(text, "auto")
        if report.form not in ("5-7-5", "7-7"):
            raise ValueError(f"{text!r} is neither a 長句 (5-7-5) nor a 短句 (7-7)")
        kind = kind_for_form(report.form)
        text = " ".join(k.strip() for k in report.ku)
    else:
        raise ValueError(f"{text!r} has {len(parts)} ku; a 長句 has 3, a 短句 2")
    fields = {"text": text, "kind": kind}
    if author:
        fields["author"] = author
    deviations = [
        f"ku {d.index + 1} {d.ku!r}: {d.kind} ({d.actual} morae for {d.expected})"
        for d in report.deviations
    ]
    return Verse(**fields), deviations


def read_text_chains(
    path: str | os.PathLike, log: IssueLog | None = None, *, name: str | None = None
) -> SourceData:
    log = log if log is not None else IssueLog()
    path = Path(path)
    source = name or path.stem
    data = SourceData(name=source, path=str(path))
    for n, block in enumerate(_blocks(read_text(path)), start=1):
        verses: list[Verse] = []
        warnings: list[tuple[int, str]] = []
        problem: tuple[int, str] | None = None
        for lineno, author, text in block.lines:
            try:
                verse, deviations = _verse(text, author)
            except ValidationError as err:
                problem = (lineno, f"invalid verse: {explain_validation(err)}")
                break
            except (ValueError, InputError) as err:
                problem = (lineno, str(err))
                break
            if verses and verse.kind == verses[-1].kind:
                problem = (
                    lineno,
                    f"a {verse.kind} follows a {verses[-1].kind}: 長句 and 短句 must alternate",
                )
                break
            warnings.extend((lineno, f"{verse.kind} off its form: {d}") for d in deviations)
            verses.append(verse)
        start = block.lines[0][0]
        if problem is None:
            form = chain_form_for_length(len(verses))
            if form in ("歌仙", "半歌仙", "百韻") and verses[0].kind != "長句":
                form = "other"  # a full-length chain that does not open with a 発句
            try:
                chain = Chain(
                    id=f"{source}-{n:02d}",
                    title=block.title,
                    form=form,
                    verses=verses,
                    source=source,
                )
            except ValidationError as err:
                problem = (start, f"invalid chain: {explain_validation(err)}")
        if problem is not None:
            title = f" ({block.title})" if block.title else ""
            log.bad(path, problem[0], f"chain {n}{title}: {problem[1]}")
            data.bad_records += 1
            continue
        for lineno, msg in warnings:
            log.warn(path, lineno, msg)
            data.warnings += 1
        data.chains.append(chain)
    return data
