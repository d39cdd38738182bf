"""The Hachidaishu vocabulary dataset (Yamamoto 2021, Zenodo DOI 10.5281/zenodo.4744170),
file `hachidai.db`: the eight imperial anthologies, one token per line, nine space-separated
columns:

    01:000001:0010 B00 BG-01-1950-14-0100 02 一とせ 一年 ひととせ 一年 ひととせ
    anthology:poem:token  type  semantic code  POS  surface  lemma (kanji)  lemma (kana)
    conjugated (kanji)  conjugated (kana)

Token types, as the dataset's README documents them: A is a single token, B a compound token,
C a breakdown of a B token into its elements (C00 first element, C01 second …). The digits after
the letter number the alternatives of one token (A10, A20: the same word under another semantic
code). So each poem is rebuilt from the first A or B line of every token id (C lines and
repeated alternatives skipped): the text from the conjugated kanji column (the surface column is
the diplomatic spelling, without dakuten: こそ for 去年), the reading from the conjugated kana
column (historical kana as written there — こゑ, けふ — which count the same morae as their
recitation; iteration marks ゝゞ are expanded).

Variant readings (異本) are marked with 記号-一般 tokens (POS 77) such as `＊１`: those markers
and the tokens from a numbered marker to the next marker (the variant) are left out, as the
dataset's TEI conversion does.

The data marks no ku, so the five ku are found at token edges by the split whose mora counts are
closest to 5-7-5-7-7 (a long ku costs less than a short one: 字余り is common in waka, 字足らず
rare). Poems that are not tanka (長歌, 旋頭歌) are left out with a warning.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from tsukeku.corpus.issues import IssueLog
from tsukeku.corpus.readers.common import SourceData, read_text, tanka_link
from tsukeku.errors import InputError, explain_validation

NAME = "hachidaishu"
FILE_NAME = "hachidai.db"
ANTHOLOGIES = {
    "01": "古今和歌集", "02": "後撰和歌集", "03": "拾遺和歌集", "04": "後拾遺和歌集",
    "05": "金葉和歌集", "06": "詞花和歌集", "07": "千載和歌集", "08": "新古今和歌集",
}  # fmt: skip
COLUMNS = 9
KU_MORAE = (5, 7, 5, 7, 7)
_ID = re.compile(r"^(\d{2}):(\d{6}):(\d{4})$")
_TYPE = re.compile(r"^[ABC]\d{2}$")
_MARKER_POS = "77"  # 記号-一般
_NO_BRACKETS = str.maketrans("", "", "〈〉")


@dataclass(frozen=True)
class Token:
    line: int
    serial: str
    type: str
    pos: str
    surface: str
    text: str  # conjugated form, kanji writing
    kana: str  # conjugated form, kana writing


def looks_like_hachidaishu(first_line: str) -> bool:
    cols = first_line.split()
    return len(cols) == COLUMNS and bool(_ID.match(cols[0])) and bool(_TYPE.match(cols[1]))


def _main_tokens(tokens: list[Token]) -> list[Token]:
    """The poem's own tokens: markers and variant readings left out."""
    out: list[Token] = []
    in_variant = False
    for t in tokens:
        if t.pos == _MARKER_POS or t.surface.startswith(("＊", "*")):
            in_variant = bool(re.search(r"[0-9０-９]", t.surface)) and not in_variant
            continue
        if not in_variant:
            out.append(t)
    return out


def split_ku(morae: list[int]) -> list[int] | None:
    """Cut positions (token indices, 4 of them) giving the ku closest to 5-7-5-7-7, or None
    when no split is within two morae of the form in every ku."""
    n = len(morae)
    prefix = [0]
    for m in morae:
        prefix.append(prefix[-1] + m)
    inf = float("inf")

    def cost(i: int, j: int, target: int) -> float:
        d = prefix[j] - prefix[i] - target
        if abs(d) > 2:
            return inf
        return d if d >= 0 else -2.5 * d

    # best[k][j]: cost of the first k ku covering tokens [0, j)
    best = [[inf] * (n + 1) for _ in range(6)]
    back = [[0] * (n + 1) for _ in range(6)]
    best[0][0] = 0.0
    for k in range(1, 6):
        for j in range(1, n + 1):
            for i in range(k - 1, j):
                if best[k - 1][i] == inf:
                    continue
                c = best[k - 1][i] + cost(i, j, KU_MORAE[k - 1])
                if c < best[k][j]:
                    best[k][j], back[k][j] = c, i
    if best[5][n] == inf:
        return None
    cuts, j = [], n
    for k in range(5, 1, -1):
        j = back[k][j]
        cuts.append(j)
    return sorted(cuts)


def read_hachidaishu(
    path: str | os.PathLike,
    log: IssueLog | None = None,
    *,
    name: str = NAME,
    orthography: str = "kanji",
) -> SourceData:
    """Links 上の句 → 下の句 of every tanka in hachidai.db. `orthography="surface"` keeps the
    diplomatic spelling of the surface column instead of the kanji writing."""
    from tsukeku.prosody import kana_morae
    from tsukeku.prosody.kana import expand_iteration_marks

    if orthography not in ("kanji", "surface"):
        raise ValueError("orthography is 'kanji' or 'surface'")
    log = log if log is not None else IssueLog()
    path = Path(path)
    data = SourceData(name=name, path=str(path))

    poems: dict[tuple[str, str], list[Token]] = {}
    first_line: dict[tuple[str, str], int] = {}
    seen: set[tuple[str, str, str]] = set()
    for lineno, raw in enumerate(read_text(path).splitlines(), start=1):
        if not raw.strip():
            continue
        cols = raw.split()
        if len(cols) != COLUMNS:
            log.bad(path, lineno, f"expected {COLUMNS} space-separated columns, got {len(cols)}")
            data.bad_records += 1
            continue
        m = _ID.match(cols[0])
        if not m or not _TYPE.match(cols[1]):
            log.bad(path, lineno, f"bad token id {cols[0]!r} or type {cols[1]!r}")
            data.bad_records += 1
            continue
        anth, poem, serial = m.groups()
        key = (anth, poem)
        first_line.setdefault(key, lineno)
        if cols[1][0] == "C" or (anth, poem, serial) in seen:
            continue  # breakdown of a compound, or another sense of a token already taken
        seen.add((anth, poem, serial))
        poems.setdefault(key, []).append(
            Token(lineno, serial, cols[1], cols[3], cols[4], cols[7], cols[8])
        )

    for (anth, poem), tokens in poems.items():
        line = first_line[(anth, poem)]
        where = f"poem {anth}:{poem} ({ANTHOLOGIES.get(anth, anth)})"
        main = _main_tokens(tokens)
        words = [  # 〈〉 in a form would read as ruby markup downstream
            expand_iteration_marks(t.text if orthography == "kanji" else t.surface).translate(
                _NO_BRACKETS
            )
            for t in main
        ]
        kana = [expand_iteration_marks(t.kana) for t in main]
        try:
            morae = [kana_morae(k) for k in kana]
        except InputError as err:
            log.bad(path, line, f"{where}: the kana column is not kana ({err})")
            data.bad_records += 1
            continue
        total = sum(morae)
        if not 27 <= total <= 36:
            log.warn(path, line, f"{where} has {total} morae: not a tanka, left out")
            data.warnings += 1
            continue
        cuts = split_ku(morae)
        if cuts is None:
            log.warn(path, line, f"{where}: no 5-7-5-7-7 split at word boundaries, left out")
            data.warnings += 1
            continue
        edges = [0, *cuts, len(main)]
        ku = ["".join(words[a:b]) for a, b in zip(edges, edges[1:], strict=False)]
        readings = ["".join(kana[a:b]) for a, b in zip(edges, edges[1:], strict=False)]
        try:
            link = tanka_link(
                ku,
                readings,
                id=f"{name}-{anth}-{poem}",
                group=f"{name}:{anth}:{poem}",
                source=name,
            )
        except ValidationError as err:
            log.bad(path, line, f"{where}: {explain_validation(err)}")
            data.bad_records += 1
            continue
        data.links.append(link)
    return data
