"""The training-dataset builder: sources → links → train / validation / test JSON Lines.

- Every verse is checked against its form with `tsukeku.prosody.check_form` (its reading when it
  has one); the check also gives the reading of verses that have none.
- Near-duplicate links (the same 前句 and 付句 readings once normalised) are removed, the first
  kept.
- Splits never separate a group (a poem, a chain), and groups that share a verse (the same
  normalised reading) are kept together, so no verse reading appears in two splits.
- Links whose 付句 has no season or topics get them from the renga classifier, marked
  `season_inferred` / `topics_inferred`; stats.json counts seasons and topics (given or
  inferred) and how many of each were inferred.
- Groups are ordered by a hash of the seed and their name, then each goes to the split furthest
  below its share of links (80/10/10 by default): the result depends only on the data and the
  seed, and two builds write identical bytes.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from tsukeku.corpus.issues import IssueLog
from tsukeku.corpus.model import DIRECTIONS, KIND_FORM, Link, Verse
from tsukeku.corpus.readers import SourceData, read_sources
from tsukeku.errors import ConfigError, DataError, TsukekuError
from tsukeku.io import write_json_atomic, write_jsonl_atomic
from tsukeku.prompts import SEASONS
from tsukeku.prosody.kana import normalise_reading

SPLITS = ("train", "validation", "test")
DEFAULT_PROPORTIONS = (0.8, 0.1, 0.1)
MAX_ISSUES_IN_STATS = 200


@dataclass(frozen=True)
class VerseCheck:
    """The form check of one verse."""

    ok: bool  # keeps its form, or only 字余り where the verse carries the jiamari flag
    exact: bool  # every ku has exactly its morae
    reading: str  # spaced per ku
    ku_morae: tuple[int, ...]


def check_verse(verse: Verse) -> VerseCheck:
    from tsukeku.prosody import check_form

    report = check_form(verse.text, KIND_FORM[verse.kind], reading=verse.reading)
    jiamari_only = all(d.kind == "字余り" for d in report.deviations)
    reading = verse.reading or " ".join(r.replace(" ", "") for r in report.readings)
    return VerseCheck(
        ok=bool(report.ok) or (verse.jiamari and jiamari_only),
        exact=bool(report.ok),
        reading=reading,
        ku_morae=tuple(report.ku_morae),
    )


@dataclass(frozen=True)
class Labels:
    """The season and topics of a 付句: as given in its record, or inferred by the renga
    classifier where the record has none (marked, so training can tell them apart)."""

    season: str
    topics: tuple[str, ...]
    season_inferred: bool
    topics_inferred: bool


def labels_of(verse: Verse) -> Labels:
    from tsukeku.renga import classify

    c = classify(verse)
    return Labels(c.season, c.topics, not c.season_given, not c.topics_given)


@dataclass
class _Item:
    link: Link
    source: str
    id: str
    group: str
    prev: VerseCheck
    next: VerseCheck
    context_keys: tuple[str, ...]

    @property
    def key(self) -> tuple[str, str]:
        return normalise_reading(self.prev.reading), normalise_reading(self.next.reading)

    @cached_property
    def labels(self) -> Labels:
        return labels_of(self.link.next)

    def record(self) -> dict[str, Any]:
        link = self.link
        return {
            "id": self.id,
            "previous": link.previous.text,
            "next": link.next.text,
            "previous_form": link.previous.form,
            "next_form": link.next.form,
            "previous_reading": self.prev.reading,
            "next_reading": self.next.reading,
            "context": [v.text for v in link.context],
            "direction": link.direction,
            "season": self.labels.season,
            "topics": list(self.labels.topics),
            "season_inferred": self.labels.season_inferred,
            "topics_inferred": self.labels.topics_inferred,
            "source": self.source,
            "group": self.group,
        }


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            lo, hi = sorted((ra, rb))
            self.parent[hi] = lo


@dataclass
class BuildResult:
    out: Path
    stats: dict[str, Any]
    splits: dict[str, list[dict[str, Any]]] = field(repr=False, default_factory=dict)
    issues: IssueLog = field(repr=False, default_factory=IssueLog)


def _prefixed(value: str, source: str, *, dash_ok: bool = False) -> str:
    """Namespaces an id or a group by its source (ids like tanka-t1 already are)."""
    done = (f"{source}:", f"{source}-") if dash_ok else (f"{source}:",)
    return value if value.startswith(done) else f"{source}:{value}"


def assign_splits(
    unit_sizes: dict[str, int], seed: int, proportions: Sequence[float]
) -> dict[str, str]:
    """unit → split. Units are ordered by a hash of the seed and their name; each goes to the
    split furthest below its target number of links."""
    total = sum(unit_sizes.values())
    targets = [p * total for p in proportions]
    counts = [0] * len(SPLITS)
    order = sorted(unit_sizes, key=lambda u: hashlib.sha256(f"{seed}\x00{u}".encode()).hexdigest())
    out: dict[str, str] = {}
    for unit in order:
        i = max(range(len(SPLITS)), key=lambda k: (targets[k] - counts[k], -k))
        counts[i] += unit_sizes[unit]
        out[unit] = SPLITS[i]
    return out


def _histogram(values: list[int]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    hist = Counter(values)
    return {
        "n": len(values),
        "min": min(values),
        "max": max(values),
        "mean": round(sum(values) / len(values), 3),
        "histogram": {str(k): hist[k] for k in sorted(hist)},
    }


def parse_proportions(text: str) -> tuple[float, float, float]:
    """ "80/10/10", "0.8,0.1,0.1" → fractions summing to 1."""
    parts = [p for p in text.replace("/", ",").split(",") if p.strip()]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ConfigError(
            f"split proportions must be numbers like 80/10/10, got {text!r}"
        ) from None
    if len(values) != 3 or any(v < 0 for v in values) or sum(values) <= 0 or values[0] <= 0:
        raise ConfigError(f"give three proportions train/validation/test (train > 0), got {text!r}")
    total = sum(values)
    return (values[0] / total, values[1] / total, values[2] / total)


def build_dataset(
    sources: Sequence[str] = ("bundled",),
    out: str | os.PathLike = "data-out",
    *,
    seed: int = 0,
    proportions: Sequence[float] = DEFAULT_PROPORTIONS,
    strict: bool = False,
    template: Any = None,
    progress: Callable[[int, int], None] | None = None,
    data: list[SourceData] | None = None,
    log: IssueLog | None = None,
) -> BuildResult:
    """Reads the sources (or takes `data` already read), checks, dedupes and splits the links
    and writes DIR/{train,validation,test}.jsonl, stats.json and prompt.json.

    `template` is the prompt template saved with the data (default: `completion`);
    `progress(done, total)` is called while verses are checked; `log` collects the issues
    (pass the one `data` was read with so that stats.json counts them all)."""
    from tsukeku.prompts import get_template

    if len(proportions) != 3 or abs(sum(proportions) - 1) > 1e-6:
        raise ConfigError("proportions must be three fractions summing to 1")
    template = template if template is not None else get_template("completion")
    log = log if log is not None else IssueLog(strict=strict)
    if data is None:
        data = read_sources(sources, log)
    out = Path(out)

    # Check every distinct verse once.
    verses: dict[Verse, str] = {}  # verse → the source file it was first seen in
    for src in data:
        for v in src.verses():
            verses.setdefault(v, src.path or src.name)
    checks: dict[Verse, VerseCheck] = {}
    for done, (v, where) in enumerate(verses.items(), start=1):
        try:
            checks[v] = check_verse(v)
        except TsukekuError as err:
            log.bad(
                where, None, f"verse {v.text!r} cannot be checked ({err}); its links are skipped"
            )
        if progress is not None:
            progress(done, len(verses))

    items: list[_Item] = []
    per_source: dict[str, dict[str, Any]] = {}
    ids: Counter[str] = Counter()
    for src in data:
        s = per_source.setdefault(
            src.name,
            {"links_read": 0, "chains": 0, "complete_chains": 0, "bad_records": 0, "warnings": 0},
        )
        s["chains"] += len(src.chains)
        s["complete_chains"] += sum(c.complete for c in src.chains)
        s["bad_records"] += src.bad_records
        s["warnings"] += src.warnings
        for link in src.all_links():
            s["links_read"] += 1
            vs = [*link.context, link.previous, link.next]
            if any(v not in checks for v in vs):
                s["bad_records"] += 1
                continue
            lid = _prefixed(link.id, src.name, dash_ok=True)
            ids[lid] += 1
            if ids[lid] > 1:
                lid = f"{lid}#{ids[lid]}"
            items.append(
                _Item(
                    link=link,
                    source=src.name,
                    id=lid,
                    group=_prefixed(link.group or link.id, src.name),
                    prev=checks[link.previous],
                    next=checks[link.next],
                    context_keys=tuple(normalise_reading(checks[v].reading) for v in link.context),
                )
            )
    if not items:
        raise DataError(
            f"no links to build from ({', '.join(sources) or 'no sources'}); "
            + (
                f"{len(log.errors)} bad record(s), see above"
                if log.errors
                else "the sources are empty"
            )
        )

    # Near-duplicates: the same readings of 前句 and 付句.
    kept: list[_Item] = []
    seen: set[tuple[str, str]] = set()
    dup_by_source: Counter[str] = Counter()
    for it in items:
        if it.key in seen:
            dup_by_source[it.source] += 1
            continue
        seen.add(it.key)
        kept.append(it)

    # Units: groups joined when they share a verse reading.
    uf = _UnionFind()
    for it in kept:
        uf.find(it.group)
        for key in (*it.key, *it.context_keys):
            uf.union(it.group, f"\x00verse:{key}")
    unit_of = {it.group: uf.find(it.group) for it in kept}
    unit_sizes = Counter(unit_of[it.group] for it in kept)
    split_of_unit = assign_splits(dict(unit_sizes), seed, proportions)
    splits: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    split_items: dict[str, list[_Item]] = {s: [] for s in SPLITS}
    for it in kept:
        split = split_of_unit[unit_of[it.group]]
        splits[split].append(it.record())
        split_items[split].append(it)

    stats = _stats(
        data, items, kept, split_items, per_source, dup_by_source, checks, log, seed, proportions
    )
    stats["prompt"] = template.name
    stats["sources_requested"] = list(sources)

    out.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        write_jsonl_atomic(out / f"{split}.jsonl", splits[split])
    write_json_atomic(out / "stats.json", stats)
    template.save(out)
    return BuildResult(out=out, stats=stats, splits=splits, issues=log)


def _stats(
    data: list[SourceData],
    items: list[_Item],
    kept: list[_Item],
    split_items: dict[str, list[_Item]],
    per_source: dict[str, dict[str, Any]],
    dup_by_source: Counter[str],
    checks: dict[Verse, VerseCheck],
    log: IssueLog,
    seed: int,
    proportions: Sequence[float],
) -> dict[str, Any]:
    # Form adherence of each source over its distinct verses (as read, before dedup).
    source_verses: dict[str, dict[Verse, None]] = defaultdict(dict)
    for src in data:
        for v in src.verses():
            if v in checks:
                source_verses[src.name].setdefault(v, None)
    for name, s in per_source.items():
        vs = list(source_verses.get(name, {}))
        ok = sum(checks[v].ok for v in vs)
        exact = sum(checks[v].exact for v in vs)
        s.update(
            links=sum(1 for it in kept if it.source == name),
            duplicates_removed=dup_by_source.get(name, 0),
            verses=len(vs),
            form_ok=ok,
            form_exact=exact,
            form_adherence=round(ok / len(vs), 4) if vs else None,
            by_direction={
                d: sum(1 for it in kept if it.source == name and it.link.direction == d)
                for d in DIRECTIONS
            },
        )
    all_verses = {v: None for name in source_verses for v in source_verses[name]}
    ok_all = sum(checks[v].ok for v in all_verses)

    length: dict[str, Any] = {}
    for kind in ("長句", "短句"):
        vs = [v for v in all_verses if v.kind == kind]
        length[kind] = {
            "morae": _histogram([sum(checks[v].ku_morae) for v in vs]),
            "characters": _histogram([len(v.text.replace(" ", "")) for v in vs]),
        }

    return {
        "total_links": len(kept),
        "chains": sum(len(src.chains) for src in data),
        "complete_chains": sum(sum(c.complete for c in src.chains) for src in data),
        "by_split": {s: len(split_items[s]) for s in SPLITS},
        "groups_by_split": {s: len({it.group for it in split_items[s]}) for s in SPLITS},
        "by_split_direction": {
            s: {d: sum(1 for it in split_items[s] if it.link.direction == d) for d in DIRECTIONS}
            for s in SPLITS
        },
        "seed": seed,
        "proportions": dict(zip(SPLITS, [round(p, 6) for p in proportions], strict=True)),
        "links_read": len(items),
        "duplicates_removed": len(items) - len(kept),
        "bad_records": len(log.errors),
        "warnings": len(log.warnings),
        "by_direction": {d: sum(1 for it in kept if it.link.direction == d) for d in DIRECTIONS},
        # Season and topics of each 付句, given or inferred by the renga classifier.
        "by_season": {
            k: n for k in SEASONS if (n := sum(1 for it in kept if it.labels.season == k))
        },
        "by_topic": dict(sorted(Counter(t for it in kept for t in it.labels.topics).items())),
        "labels": {
            "season_given": sum(not it.labels.season_inferred for it in kept),
            "season_inferred": sum(it.labels.season_inferred for it in kept),
            "topics_given": sum(not it.labels.topics_inferred for it in kept),
            "topics_inferred": sum(it.labels.topics_inferred for it in kept),
        },
        "by_source": per_source,
        "form_adherence": {
            "verses": len(all_verses),
            "ok": ok_all,
            "rate": round(ok_all / len(all_verses), 4) if all_verses else None,
        },
        "length": length,
        "issues": [str(i) for i in log.issues[:MAX_ISSUES_IN_STATS]],
    }
