"""Printing the statistics of a built dataset (DIR/stats.json) as rich tables."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from tsukeku.errors import DataError


def load_stats(directory: str | os.PathLike) -> dict[str, Any]:
    p = Path(directory)
    p = p / "stats.json" if p.is_dir() else p
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(
            f"{p}: not found; build a dataset first with `tsukeku data build`"
        ) from None
    except json.JSONDecodeError as err:
        raise DataError(f"{p}: not valid JSON ({err.msg})") from None


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def render_stats(stats: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    by_split = stats.get("by_split", {})
    groups = stats.get("groups_by_split", {})
    split_dir = stats.get("by_split_direction", {})

    summary = Table(title="dataset", box=box.SIMPLE_HEAD, header_style="bold")
    for col in ("split", "links", "groups", "長→短", "短→長"):
        summary.add_column(col, justify="right" if col != "split" else "left")
    for split, n in by_split.items():
        dirs = split_dir.get(split, {})
        summary.add_row(
            split,
            str(n),
            str(groups.get(split, "-")),
            str(dirs.get("長句→短句", "-")),
            str(dirs.get("短句→長句", "-")),
        )
    dirs = stats.get("by_direction", {})
    summary.add_row(
        "[bold]total[/bold]",
        f"[bold]{stats.get('total_links', 0)}[/bold]",
        str(sum(groups.values())) if groups else "-",
        str(dirs.get("長句→短句", "-")),
        str(dirs.get("短句→長句", "-")),
    )
    console.print(summary)

    sources = Table(title="sources", box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False)
    for col in (
        "source",
        "links",
        "read",
        "chns",
        "長→短",
        "短→長",
        "dups",
        "bad",
        "verses",
        "form",
    ):
        if col == "source":
            sources.add_column(col, no_wrap=True)
        else:
            sources.add_column(col, justify="right")
    for name, s in stats.get("by_source", {}).items():
        d = s.get("by_direction", {})
        chains = f"{s.get('complete_chains', 0)}/{s.get('chains', 0)}" if s.get("chains") else "0"
        sources.add_row(
            name,
            str(s.get("links", 0)),
            str(s.get("links_read", 0)),
            chains,
            str(d.get("長句→短句", 0)),
            str(d.get("短句→長句", 0)),
            str(s.get("duplicates_removed", 0)),
            str(s.get("bad_records", 0)),
            str(s.get("verses", 0)),
            _pct(s.get("form_ok", 0), s.get("verses", 0)),
        )
    console.print(sources)

    lengths = Table(title="length (distinct verses)", box=box.SIMPLE_HEAD, header_style="bold")
    for col in (
        "kind",
        "verses",
        "morae",
        "mean",
        "most common",
        "chars",
        "mean",
    ):
        lengths.add_column(col, justify="left" if col == "kind" else "right")
    for kind, ln in stats.get("length", {}).items():
        m, c = ln.get("morae", {}), ln.get("characters", {})
        if not m.get("n"):
            lengths.add_row(kind, "0", "-", "-", "-", "-", "-")
            continue
        hist = m.get("histogram", {})
        common = ", ".join(f"{k}:{v}" for k, v in sorted(hist.items(), key=lambda kv: -kv[1])[:2])
        lengths.add_row(
            kind,
            str(m["n"]),
            f"{m['min']}–{m['max']}",
            f"{m['mean']:.2f}",
            common,
            f"{c['min']}–{c['max']}",
            f"{c['mean']:.2f}",
        )
    console.print(lengths)

    labels = stats.get("labels", {})
    seasons = stats.get("by_season", {})
    if seasons:
        inferred = f" ({labels['season_inferred']} inferred)" if "season_inferred" in labels else ""
        console.print("seasons: " + ", ".join(f"{k} {v}" for k, v in seasons.items()) + inferred)
    topics = stats.get("by_topic", {})
    if topics:
        top = sorted(topics.items(), key=lambda kv: -kv[1])[:12]
        inferred = f" ({labels['topics_inferred']} inferred)" if "topics_inferred" in labels else ""
        console.print("topics: " + ", ".join(f"{k} {v}" for k, v in top) + inferred)
    fa = stats.get("form_adherence", {})
    console.print(
        f"form adherence: {fa.get('ok', 0)}/{fa.get('verses', 0)} verses "
        f"({_pct(fa.get('ok', 0), fa.get('verses', 0))}); "
        f"{stats.get('duplicates_removed', 0)} duplicate link(s) removed; "
        f"{stats.get('bad_records', 0)} bad record(s); {stats.get('warnings', 0)} warning(s)"
    )
