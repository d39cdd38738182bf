"""Forms of verse (5-7-5 長句, 7-7 短句, 5-7-5-7-7 tanka): checking and splitting into ku."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from tsukeku.errors import InputError
from tsukeku.prosody.analysis import analyses
from tsukeku.prosody.costs import meter_cost
from tsukeku.prosody.kana import is_kana, is_separator, kana_morae
from tsukeku.prosody.path import path_morae, path_reading
from tsukeku.prosody.reading import guessing_lattice, lattice, validate

FORMS: dict[str, tuple[int, ...]] = {
    "5-7-5": (5, 7, 5),
    "7-7": (7, 7),
    "5-7-5-7-7": (5, 7, 5, 7, 7),
}
FORM_CHOICES = (*FORMS, "auto")
BY_KU_COUNT = {3: "5-7-5", 2: "7-7", 5: "5-7-5-7-7"}

JIAMARI = "字余り"
JITARAZU = "字足らず"

# split_ku: each ku costs its distance from the meter (costs.meter_cost); a boundary before a
# particle, an auxiliary or a suffix, or after a prefix, is not a bunsetsu boundary; one inside
# MeCab's word is worse.
NOT_BUNSETSU = 1.2
INSIDE_WORD = 2.0
INSIDE_KANA = 1.0
ATTACHED_WITHIN = 0.8  # analyses this close to the best one vote on particles
_ATTACHED_POS = frozenset({"助詞", "助動詞", "接尾辞"})


@dataclass(frozen=True)
class Deviation:
    index: int  # 0-based index of the ku
    ku: str
    expected: int
    actual: int
    kind: str  # 字余り (more morae) or 字足らず (fewer)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FormReport:
    ok: bool
    form: str
    ku: list[str]
    readings: list[str]
    ku_morae: list[int]
    deviations: list[Deviation] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Exactly the JSON of `tsukeku check --json`."""
        return {
            "ok": self.ok,
            "form": self.form,
            "ku": list(self.ku),
            "ku_morae": list(self.ku_morae),
            "deviations": [d.to_dict() for d in self.deviations],
            "readings": list(self.readings),
        }


def other_form(form: str) -> str:
    """The form a 付句 takes after a verse of ``form``: 5-7-5 ↔ 7-7."""
    if form == "5-7-5":
        return "7-7"
    if form == "7-7":
        return "5-7-5"
    raise InputError(f"form {form!r} has no linked form; a 付句 answers 5-7-5 or 7-7")


def _check_form_name(form: str) -> str:
    if form not in FORM_CHOICES:
        raise InputError(f"unknown form {form!r}; choose one of {', '.join(FORM_CHOICES)}")
    return form


def _form_by_total(total: int) -> str:
    # Nearest total; on a tie the longer form (a 字余り verse is likelier than a 字足らず one).
    return min(FORMS, key=lambda f: (abs(sum(FORMS[f]) - total), -sum(FORMS[f])))


def _parts(norm: str) -> list[str]:
    return [p for p in norm.split(" ") if not all(is_separator(c) for c in p)]


def _deviations(kus: list[str], morae: list[int], pattern: tuple[int, ...]) -> list[Deviation]:
    out = []
    for i, (k, m, e) in enumerate(zip(kus, morae, pattern, strict=True)):
        if m != e:
            out.append(Deviation(i, k, e, m, JIAMARI if m > e else JITARAZU))
    return out


def check_form(text: str, form: str = "auto", reading: str | None = None) -> FormReport:
    """Per-ku morae of ``text`` against ``form`` (5-7-5, 7-7, 5-7-5-7-7 or auto).

    Spaced text is taken ku by ku when it has as many ku as the form; otherwise (unspaced text,
    or a different number of parts) it is split with `split_ku`. ``auto`` picks the form by the
    number of ku (3, 2, 5) or else by the total morae. When ``reading`` (kana, spaced per ku or
    not) is given, it is counted instead of analysing ``text``.
    """
    _check_form_name(form)
    norm = validate(text)
    if reading is not None:
        return _check_reading(norm, form, reading)
    parts = _parts(norm)
    if form == "auto":
        form = BY_KU_COUNT.get(len(parts)) or _form_by_total(_total(norm))
    pattern = FORMS[form]
    kus = parts if len(parts) == len(pattern) else split_ku(norm, form)
    readings, morae = [], []
    for k, e in zip(kus, pattern, strict=True):
        path, _ = lattice(k).path(e)
        readings.append(path_reading(path))
        morae.append(path_morae(path))
    devs = _deviations(kus, morae, pattern)
    return FormReport(not devs, form, kus, readings, morae, devs)


def _total(norm: str) -> int:
    path, _ = lattice(norm).path(None)
    return path_morae(path)


def _check_reading(norm: str, form: str, reading: str) -> FormReport:
    rnorm = validate(reading)
    bad = [c for c in rnorm if not (is_kana(c) or is_separator(c))]
    if bad:
        raise InputError(f"a reading must be kana; {bad[0]!r} is not (got {reading!r})")
    rparts = _parts(rnorm)
    if form == "auto":
        total = sum(kana_morae("".join(c for c in p if is_kana(c))) for p in rparts)
        form = BY_KU_COUNT.get(len(rparts)) or _form_by_total(total)
    pattern = FORMS[form]
    readings = rparts if len(rparts) == len(pattern) else split_ku(rnorm, form)
    parts = _parts(norm)
    kus = parts if len(parts) == len(pattern) else readings
    morae = [kana_morae("".join(c for c in r if is_kana(c))) for r in readings]
    devs = _deviations(kus, morae, pattern)
    return FormReport(not devs, form, kus, readings, morae, devs)


def split_ku(text: str, form: str) -> list[str]:
    """Split verse into the ku of ``form`` at word boundaries.

    Dynamic programming over the reading lattice: each ku costs its distance from the meter
    (costs.meter_cost: 字足らず more than 字余り), each boundary what it breaks (a bunsetsu, a
    word), each reading its cost in the lattice; the cheapest split wins. Spaces already in the
    text are free boundaries; ruby units and lexicon words are never cut. The ku are
    substrings of the (normalised) text, ruby markup kept.
    """
    return [k for k, _r, _m in split_with_readings(text, form)[1]]


def split_with_readings(text: str, form: str) -> tuple[str, list[tuple[str, str, int]]]:
    """(form, [(ku, reading, morae)]) of the best split."""
    _check_form_name(form)
    norm = validate(text)
    lat = guessing_lattice(norm)
    if form == "auto":
        path, _ = lat.path(None)
        form = _form_by_total(path_morae(path))
    pattern = FORMS[form]
    bcost = _boundary_costs(lat)
    _total, last, best = _split_dp(lat, pattern, bcost)
    if last is None:
        raise InputError(f"{norm!r} is too short to split into the {len(pattern)} ku of {form}")
    K = len(pattern)
    cuts, readings, morae = _trace(best, last, K)
    if morae != list(pattern):
        # No split fits the meter with MeCab's readings: let the dictionary's weaker
        # candidates (Lattice.extended) try, on the same boundaries; their split is taken only
        # where more of its ku keep the meter.
        ext = lat.extended()
        if ext is not lat:
            _total, last2, best2 = _split_dp(ext, pattern, bcost)
            if last2 is not None:
                found = _trace(best2, last2, K)
                if _fitting(found[2], pattern) > _fitting(morae, pattern):
                    cuts, readings, morae = found
    bounds = [0, *[lat.to_original[c] for c in cuts], len(lat.original)]
    kus = [lat.original[a:b].strip() for a, b in zip(bounds, bounds[1:], strict=False)]
    reads = [" ".join("".join(reversed(rs)).split()) for rs in readings]
    return form, list(zip(kus, reads, morae, strict=True))


_State = tuple[int, int, int, bool]  # (position, ku, morae so far in it, bare vowel seen)
_Best = dict[_State, tuple[float, "_State | None", "str | None"]]


def _split_dp(lat, pattern: tuple[int, ...], bcost: dict[int, float]):
    """(total cost, final state, table) of the cheapest split of ``lat`` into ``pattern``;
    the final state is None when the text is too short."""
    n = len(lat.text)
    K = len(pattern)
    cap = max(pattern) + 8
    # best[(pos, k, m, v)] = (cost, previous state, reading of the edge taken): ku k has m
    # morae so far, v = a bare vowel seen in it (for meter_cost).
    best: _Best = {(0, 0, 0, False): (0.0, None, None)}

    def relax(st: _State, c: float, prev: _State, r: str | None) -> None:
        if st not in best or c < best[st][0] - 1e-12:
            best[st] = (c, prev, r)

    for pos in range(n + 1):
        for k in range(K):
            for m in range(cap + 1):
                for v in (False, True):
                    st = (pos, k, m, v)
                    if st not in best:
                        continue
                    cost = best[st][0]
                    if k + 1 < K and m > 0 and pos in bcost:
                        c = cost + meter_cost(m, pattern[k], v) + bcost[pos]
                        relax((pos, k + 1, 0, False), c, st, None)
                    if pos == n:
                        continue
                    for e, r, mk, ec, v_any, v_inner in lat.edges[pos]:
                        nv = v or (v_any if m else v_inner)
                        relax((e, k, min(cap, m + mk), nv), cost + ec, st, r)
    finals = [
        (best[st][0] + meter_cost(st[2], pattern[-1], st[3]), st)
        for st in best
        if st[0] == n and st[1] == K - 1 and st[2] > 0
    ]
    if not finals:
        return float("inf"), None, best
    total, last = min(finals)
    return total, last, best


def _fitting(morae: list[int], pattern: tuple[int, ...]) -> int:
    return sum(m == p for m, p in zip(morae, pattern, strict=True))


def _trace(best: _Best, last: _State, K: int) -> tuple[list[int], list[list[str]], list[int]]:
    """Cut positions, readings (reversed per ku) and morae per ku along the best split."""
    node: _State | None = last
    cuts: list[int] = []
    readings: list[list[str]] = [[] for _ in range(K)]
    morae = [0] * K
    morae[K - 1] = last[2]
    while node is not None:
        _c, prev, r = best[node]
        if prev is not None and prev[0] == node[0]:  # a cut: ku prev[1] ended here
            cuts.append(node[0])
            morae[prev[1]] = prev[2]
        elif r is not None:
            readings[node[1]].append(r)
        node = prev
    cuts.reverse()
    return cuts, readings, morae


def _boundary_costs(lat) -> dict[int, float]:
    """Cost of ending a ku at each position where that is allowed.

    A position is a word boundary at the cost of the cheapest MeCab analysis that has one there
    (INSIDE_WORD where none does; INSIDE_KANA inside a run of kana, where MeCab is weakest on
    classical spelling: うぐひす). It is not a bunsetsu boundary (NOT_BUNSETSU more) when any
    close analysis starts a particle or an auxiliary there, or ends a prefix, or when the text
    from there cannot start a phrase (_weak_start: a suffix, a stray kana)."""
    text = lat.text
    n = len(text)
    costs: dict[int, float] = {}
    attached: set[int] = set()
    for analysis in lat.analyses():
        acost, words = analysis.cost, analysis.words
        for w1, w2 in zip(words, words[1:], strict=False):
            if w1.end != w2.start:
                continue
            if acost <= ATTACHED_WITHIN and (
                w2.pos1 in ("助詞", "助動詞")
                or w1.pos1 == "接頭辞"
                or (w2.pos2 == "非自立可能" and w1.pos2 == "接続助詞")
            ):
                attached.add(w1.end)
            costs[w1.end] = min(costs.get(w1.end, INSIDE_WORD), acost)
    for p in range(1, n):
        if p in lat.blocked:
            costs.pop(p, None)
        elif text[p - 1] == " " or text[p] == " " or is_separator(text[p - 1]):
            costs[p] = 0.0
        elif p not in costs:
            costs[p] = INSIDE_KANA if is_kana(text[p - 1]) and is_kana(text[p]) else INSIDE_WORD
        elif p in attached or _weak_start(text[p : p + 8]):
            costs[p] += NOT_BUNSETSU
    return costs


def _weak_start(text: str) -> bool:
    """Can a ku not begin here? MeCab, reading the text from this point on its own, starts
    with a particle, an auxiliary or a suffix, or with a lone kana it can only call a symbol,
    a prefix or a conjunction (む, ぬ, ふ in the middle of a word)."""
    words = analyses(text, 1)[0] if text.strip() else []
    if not words:
        return False
    first = words[0]
    if first.pos1 in _ATTACHED_POS:
        return True
    return (
        first.end - first.start == 1
        and is_kana(text[first.start])
        and first.pos1 in ("記号", "補助記号", "接頭辞", "接続詞")
    )
