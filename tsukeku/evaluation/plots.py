"""PNG plots of a report (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from tsukeku.io import write_bytes_atomic  # noqa: E402


def _save(fig: Any, path: Path) -> Path:
    import io

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return write_bytes_atomic(path, buf.getvalue())


def form_adherence_bars(models: dict[str, dict[str, Any]], path: Path) -> Path:
    """Exact form adherence per model, constrained beside unconstrained."""
    names = list(models)
    modes = ["constrained", "unconstrained"]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.6 * len(names) + 1), 3.4))
    width = 0.38
    for k, mode in enumerate(modes):
        values = [models[m]["modes"].get(mode, {}).get("form_adherence_exact", 0.0) * 100
                  for m in names]
        xs = [i + (k - 0.5) * width for i in range(len(names))]
        bars = ax.bar(xs, values, width, label=mode)
        ax.bar_label(bars, fmt="%.0f%%", fontsize=8)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylim(0, 110)
    ax.set_ylabel("exact form (%)")
    ax.set_title("Form adherence of candidate verses")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=2, fontsize=8, frameon=False)
    return _save(fig, path)


def latency_boxes(latencies: dict[str, list[float]], path: Path) -> Path:
    """Per-request latency of each model (constrained mode), as a box plot."""
    names = [n for n, v in latencies.items() if v]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.4 * len(names) + 1), 3.4))
    if names:
        ax.boxplot([latencies[n] for n in names], tick_labels=names, showfliers=True)
    ax.set_ylabel("latency (ms)")
    ax.set_title("Latency per request")
    return _save(fig, path)


def loss_curves(curves: dict[str, dict[str, list[tuple[int, float]]]], path: Path) -> Path:
    """Training and validation loss against step for each compared run."""
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    for name, series in curves.items():
        line = None
        if series.get("train"):
            xs, ys = zip(*series["train"], strict=True)
            (line,) = ax.plot(xs, ys, label=f"{name} train", alpha=0.8)
        if series.get("eval"):
            xs, ys = zip(*series["eval"], strict=True)
            ax.plot(xs, ys, "o--", label=f"{name} validation",
                    color=line.get_color() if line else None)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (target verse tokens)")
    ax.set_title("Loss curves of the compared runs")
    if curves:
        ax.legend(fontsize=7)
    return _save(fig, path)
