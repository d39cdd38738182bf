"""Rule-derived preference pairs, to start preference tuning before the booth has many votes.

Each pair prefers a split's true 付句 (`chosen`) over a corrupted copy of it (`rejected`) that a
renga poet would refuse on sight:
- `ku_dropped`: one ku left out — the verse is a ku short (breaks form);
- `ku_duplicated`: one ku said twice — a ku too many (breaks form);
- `copies_previous`: one ku replaced by a ku of the 前句 with the same number of morae — the form
  holds, but the 付句 repeats its 前句 instead of answering it;
- `unlinked` (asked for by name, not in the default set): the rejected verse is another 前句's
  true 付句 of the same form from the same split — well formed and a real 付句, only not to this
  前句. It teaches exactly what next-verse selection measures (`evaluation.link`). It is not
  drawn against the others: each record gets one `unlinked` pair beside its one pair of the
  other rules, the other 付句 drawn (seeded by (seed, index, 1)) among those of a different
  text and reading.

The corruptions are deterministic (seeded choice of rule and ku) rather than samples of a model:
they need no model, cost nothing, and every rejected verse is known to break its rule — the two
form rules are confirmed with `prosody.check_form` on the corrupted reading, and a candidate
that still passes is dropped. Sampling a model for form-breaking verse would belong to the
generation layer, which training may not import.

Rows are TRL's standard preference format (`prompt`, `chosen`, `rejected`: the prompt rendered
as SFT renders it, the 付句 in the template's target form) plus `synthetic: true`, the `rule`,
the link's `id` and its `split`. `tsukeku data preferences` builds them from the TRAINING split
only; the benchmark builds its held-out pairs from the test split with the same rules.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tsukeku.errors import DataError, InputError

RULES = ("ku_dropped", "ku_duplicated", "copies_previous")  # the default set
UNLINKED = "unlinked"
ALL_RULES = (*RULES, UNLINKED)


def _ku(text: str) -> list[str]:
    return text.split()


def corrupt(rec: dict[str, Any], rule: str, rng: np.random.Generator) -> tuple[str, str] | None:
    """(text, reading) of the record's 付句 broken by `rule`, or None where the rule cannot apply
    (ku not spaced, no 前句 ku of a matching length) or the result would not break it."""
    from tsukeku.prosody import check_form, kana_morae

    ku, readings = _ku(rec["next"]), _ku(rec.get("next_reading") or "")
    if len(ku) < 2 or len(readings) != len(ku):
        return None
    if rule == "ku_dropped":
        i = int(rng.integers(len(ku)))
        ku, readings = ku[:i] + ku[i + 1:], readings[:i] + readings[i + 1:]
    elif rule == "ku_duplicated":
        i = int(rng.integers(len(ku)))
        ku, readings = ku[:i + 1] + ku[i:], readings[:i + 1] + readings[i:]
    elif rule == "copies_previous":
        prev, prev_r = _ku(rec["previous"]), _ku(rec.get("previous_reading") or "")
        if len(prev_r) != len(prev):
            return None
        counts = [kana_morae(r) for r in readings]
        pairs = [(i, j) for i in range(len(ku)) for j in range(len(prev))
                 if kana_morae(prev_r[j]) == counts[i] and prev[j] != ku[i]]
        if not pairs:
            return None
        i, j = pairs[int(rng.integers(len(pairs)))]
        ku, readings = [*ku[:i], prev[j], *ku[i + 1:]], [*readings[:i], prev_r[j], *readings[i + 1:]]
        return " ".join(ku), " ".join(readings)
    else:
        raise InputError(f"unknown preference rule {rule!r}; choose from {', '.join(RULES)} "
                         f"(or {UNLINKED}, which takes another 前句's 付句)")
    text, reading = " ".join(ku), " ".join(readings)
    if check_form(text, rec["next_form"], reading=reading).ok:
        return None  # the corrupted verse still fits its form: no preference to learn
    return text, reading


def _verse_key(text: str, reading: str | None) -> tuple[str, str]:
    from tsukeku.prosody import normalise_reading

    return "".join(text.split()), normalise_reading(reading) if reading else ""


def unlinked_texts(records: Sequence[dict[str, Any]], seed: int) -> list[str | None]:
    """Per record (at index n), another record's 付句 of the same form whose text and reading
    both differ from its own, drawn by a generator seeded with (seed, n, 1); None where the split
    has none."""
    keys = [_verse_key(r["next"], r.get("next_reading")) for r in records]
    out: list[str | None] = []
    for n, rec in enumerate(records):
        text, reading = keys[n]
        others = [j for j, r in enumerate(records) if r["next_form"] == rec["next_form"]
                  and keys[j][0] != text and not (reading and keys[j][1] == reading)]
        rng = np.random.default_rng([seed, n, 1])
        out.append(records[others[int(rng.integers(len(others)))]]["next"] if others else None)
    return out


def _pair(rec: dict[str, Any], template: Any, rejected: str, rule: str, split: str) -> dict[str, Any]:
    return {
        "prompt": template.render(rec["previous"], rec["next_form"], rec.get("context") or (), rec),
        "chosen": template.target(rec["next"]),
        "rejected": template.target(rejected),
        "synthetic": True,
        "rule": rule,
        "id": rec.get("id"),
        "split": split,
        "source": "rules",
    }


def synthetic_pairs(records: Sequence[dict[str, Any]], template: Any, *, split: str,
                    rules: Iterable[str] = RULES, seed: int = 0) -> list[dict[str, Any]]:
    """One pair per record where a form/copy rule applies: the rule drawn per record (seeded by
    (seed, index), so a record's pair does not depend on the others), falling back on the other
    rules where the drawn one cannot apply. With `unlinked` among `rules`, also one `unlinked`
    pair per record (after all the others)."""
    rules = tuple(rules)
    unknown = [r for r in rules if r not in ALL_RULES]
    if unknown or not rules:
        raise InputError(f"unknown preference rule(s) {', '.join(unknown) or '(none given)'}; "
                         f"choose from {', '.join(ALL_RULES)}")
    drawn = tuple(r for r in rules if r != UNLINKED)
    out = []
    for n, rec in enumerate(records):
        rng = np.random.default_rng([seed, n])
        for rule in [drawn[k] for k in rng.permutation(len(drawn))]:
            broken = corrupt(rec, rule, rng)
            if broken is not None:
                out.append(_pair(rec, template, broken[0], rule, split))
                break
    if UNLINKED in rules:
        others = unlinked_texts(records, seed)
        out.extend(_pair(rec, template, other, UNLINKED, split)
                   for rec, other in zip(records, others, strict=True) if other is not None)
    return out


def build_preferences(data_dir: str | os.PathLike, out: str | os.PathLike | None = None, *,
                      template: Any = None, rules: Iterable[str] = RULES, seed: int = 0,
                      split: str = "train") -> list[dict[str, Any]]:
    """Pairs from one split of a dataset dir (`tsukeku data build`) in the dataset's prompt
    template (or `template`), written to `out` as JSON Lines when given."""
    from tsukeku.io import write_jsonl_atomic
    from tsukeku.training.data import check_dataset_dir, load_template, read_split

    d = check_dataset_dir(data_dir)
    tpl = template if template is not None else load_template(d)
    pairs = synthetic_pairs(read_split(d, split), tpl, split=split, rules=rules, seed=seed)
    if not pairs:
        raise DataError(f"no preference pair could be made from {d}/{split}.jsonl (its 付句 need "
                        "ku separated by spaces and readings)")
    if out is not None:
        write_jsonl_atomic(Path(out), pairs)
    return pairs
