"""`tsukeku eval`: every model over the test split → report.json, report.md, report.html, PNGs."""

from __future__ import annotations

import html
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tsukeku.errors import ConfigError
from tsukeku.evaluation import heldout, link, plots, runner
from tsukeku.evaluation import judge as judge_mod
from tsukeku.io import write_json_atomic, write_text_atomic

PNG_FILES = {"form": "form_adherence.png", "latency": "latency.png", "loss": "loss_curves.png"}


def _progress(quiet: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), disable=quiet, transient=False)


def evaluate(registry: Any, names: list[str], data_dir: str | Path, out: str | Path, *,
             n: int = 3, limit: int | None = None, seed: int = 0,
             modes: tuple[str, ...] = ("constrained", "unconstrained"),
             arena_db: str | Path | None = None, sampling: dict[str, Any] | None = None,
             quiet: bool = False, link_distractors: int = link.DISTRACTORS,
             judge: str | None = None) -> dict[str, Any]:
    """`link_distractors`: how many other 付句 each true one is ranked among (0: no
    next-verse selection). `judge`: a chat model of the registry (openai or bedrock) that
    scores each model's best 付句 and the reference, and picks the better of every two."""
    from tsukeku.training.data import read_split

    unknown = [m for m in modes if m not in runner.MODES]
    if unknown:
        raise ConfigError(f"unknown mode(s) {', '.join(unknown)}; use constrained, unconstrained")
    for name in [*names, *([judge] if judge else [])]:
        if name not in registry:
            raise ConfigError(f"no model named {name!r}; the models are: "
                              f"{', '.join(registry.names())}")
    records = read_split(data_dir, "test")
    if not records:
        raise ConfigError(f"{data_dir}/test.jsonl has no records to evaluate on")
    # distractors come from the whole split, also when only the first `limit` 前句 are scored
    link_items = (link.link_items(records[:limit] if limit else records, records,
                                  distractors=link_distractors, seed=seed)
                  if link_distractors > 0 else [])
    records = records[:limit] if limit else records
    train_readings = [r.get("next_reading") or r["next"] for r in read_split(data_dir, "train")]
    sampling = dict(sampling or {})

    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} ({platform.machine()}, {platform.processor() or 'cpu'})",
        "data": str(Path(data_dir).resolve()), "test_prompts": len(records), "n": n,
        "seed": seed, "sampling": sampling, "models": {}, "runs": {}, "arena": None,
        "link_candidates": 1 + link_distractors if link_items else 0, "judge": None,
    }
    ask = judge_mod.asker(registry.get(judge)) if judge else None
    best: dict[str, list[str | None]] = {}  # each model's best 付句 per 前句, for the judge
    latencies: dict[str, list[float]] = {}
    with _progress(quiet) as progress:
        for name in names:
            backend = registry.get(name)
            entry: dict[str, Any] = {"kind": type(backend).__name__,
                                     "supports_constraints": backend.supports_constraints,
                                     "modes": {}, "samples": {}}
            for mode in modes:
                task = progress.add_task(f"{name} · {mode}", total=len(records))
                outcome = runner.run_mode(backend, records, constrained=runner.MODES[mode], n=n,
                                          seed=seed, sampling=sampling,
                                          on_step=lambda t=task: progress.advance(t))
                entry["modes"][mode] = runner.summarise_mode(records, outcome, n=n,
                                                             train_readings=train_readings)
                entry["samples"][mode] = runner.samples(records, outcome)
                if outcome.errors:
                    entry["modes"][mode]["error_examples"] = outcome.errors[:5]
                latencies.setdefault(name, outcome.latencies_ms)
                if mode == "constrained" or name not in best:
                    best[name] = [top.text if (top := runner.best(res)) else None
                                  for res in outcome.results]
            entry["heldout"] = heldout.heldout_loss(backend, records)
            if link_items:
                task = progress.add_task(f"{name} · next-verse selection", total=len(link_items))
                entry["link"] = link.link_report(backend, link_items, seed=seed,
                                                 max_length=heldout.MAX_LENGTH,
                                                 on_step=lambda t=task: progress.advance(t))
            run = heldout.adapter_run(backend)
            if run is not None:
                report["runs"][name] = _run_summary(run)
            report["models"][name] = entry
        if ask is not None:
            task = progress.add_task(f"judge {judge}", total=len(records))
            report["judge"] = {"model": judge, **judge_mod.judge(
                ask, records, best, seed=seed, on_step=lambda t=task: progress.advance(t))}
    if arena_db:
        report["arena"] = _arena(arena_db, names)
    _write(report, latencies, Path(out))
    return report


def _run_summary(run: dict[str, Any]) -> dict[str, Any]:
    ev = run.get("evaluation", {})
    train = ev.get("train", {})
    return {
        "run_dir": run["run_dir"], "method": run.get("method"), "base": run.get("base"),
        "trainable_params": run.get("trainable_params"), "total_params": run.get("total_params"),
        "steps": run.get("total_steps"), "train_tokens": train.get("tokens_total"),
        "train_seconds": train.get("seconds"),
        "test_loss": ev.get("test", {}).get("loss"), "test_base_loss": ev.get("test_base", {}).get("loss"),
    }


def _arena(db: str | Path, names: list[str]) -> dict[str, Any]:
    from tsukeku.arena.ratings import leaderboard
    from tsukeku.arena.store import ArenaStore

    board = leaderboard(ArenaStore(db).votes(), names)
    return board.to_dict()


# -- writing ------------------------------------------------------------------------------------

def _fmt(value: Any, pct: bool = False) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if value != value:  # NaN
            return "–"
        return f"{value:.1%}" if pct else f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


F1_NOTE = ("F1 vs reference: content-word (lemma) F1 of the best candidate against the held-out "
           "付句 — a weak signal: a verse can link well to its 前句 while sharing no word with "
           "the one reference, and echoing the 前句's world can raise it.")
LINK_NOTE = ("Each held-out 前句's own 付句 ranked among {d} others of the same form from the "
             "same split (fixed seed) by the model's mean log-probability per 付句 token; "
             "chance recall@1 is {chance:.0%}. Brackets: 95% bootstrap intervals over the 前句. "
             "PMI: the same ranking less each 付句's score after an empty 前句, which takes out "
             "how typical a verse is (docs/evaluation.md).")
JUDGE_NOTE = ("A model's opinion, not a poet's: 付き = responds to the 前句, 転じ = moves away "
              "from the 打越 (only where the 前句 has a verse before it); 'reference' is the "
              "held-out 付句. The order of each pair is drawn per 前句 (fixed seed).")


def _link_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, entry in report["models"].items():
        lk = entry.get("link")
        if not lk:
            continue
        if not lk.get("available"):
            rows.append([name, "n/a", "n/a", "n/a", str(lk["items"]), lk["reason"]])
            continue
        pmi = lk.get("pmi")  # absent in reports written before it was added
        rows.append([name, _recall(lk),
                     f"{_fmt(lk['mrr'])} [{_fmt(lk['mrr_ci_low'])} – {_fmt(lk['mrr_ci_high'])}]",
                     _recall(pmi) if pmi else "n/a", str(lk["items"]), ""])
    return rows


def _recall(lk: dict[str, Any]) -> str:
    return (f"{_fmt(lk['recall_at_1'], True)} [{_fmt(lk['recall_at_1_ci_low'], True)}"
            f" – {_fmt(lk['recall_at_1_ci_high'], True)}]")


def _tables(report: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]], str]]:
    """(title, header, rows, note) for every table; shared by the markdown and HTML writers."""
    tables = []
    header = ["model", "mode", "exact form", "字余り ≤ 1", "returned/asked", "copy rate",
              "overlap w/ 前句", "F1 vs reference", "distinct-1", "distinct-2", "self-BLEU",
              "p50 ms", "p95 ms"]
    rows = []
    for name, entry in report["models"].items():
        for mode, m in entry["modes"].items():
            rows.append([name, mode, _fmt(m["form_adherence_exact"], True),
                         _fmt(m["form_adherence_jiamari_le_1"], True),
                         f"{m['candidates_returned']}/{m['candidates_asked']}",
                         _fmt(m["copy_rate_vs_train"], True),
                         _fmt(m["content_overlap_with_previous"], True),
                         _fmt(m.get("content_f1_vs_reference")), _fmt(m["distinct_1"]),
                         _fmt(m["distinct_2"]), _fmt(m["self_bleu"]),
                         _fmt(m["latency_ms_p50"]), _fmt(m["latency_ms_p95"])])
    tables.append(("Generation on the test split", header, rows, F1_NOTE))
    rows = _link_rows(report)
    if rows:
        candidates = report.get("link_candidates") or 10
        tables.append(("Next-verse selection (does the 付句 link?)",
                       ["model", "recall@1 [95% CI]", "MRR [95% CI]", "PMI recall@1 [95% CI]",
                        "前句", "note"], rows,
                       LINK_NOTE.format(d=candidates - 1, chance=1 / candidates)))
    rows = [[name, _fmt(e["heldout"]["loss"]), _fmt(e["heldout"]["perplexity"]),
             str(e["heldout"]["tokens"])]
            for name, e in report["models"].items() if e.get("heldout")]
    if rows:
        tables.append(("Held-out 付句 loss (local models)",
                       ["model", "loss", "perplexity", "target tokens"], rows, ""))
    if report["runs"]:
        rows = []
        for name, run in report["runs"].items():
            base, tuned = run.get("test_base_loss"), run.get("test_loss")
            reduction = (base - tuned) / base if base and tuned is not None else None
            rows.append([name, str(run["method"]), _fmt(run["trainable_params"]),
                         _fmt(run["steps"]), _fmt(run["train_tokens"]), _fmt(base), _fmt(tuned),
                         _fmt(reduction, True)])
        tables.append(("Methods compared (training runs behind the models)",
                       ["model", "method", "trainable params", "steps", "train tokens",
                        "base test loss", "tuned test loss", "reduction"], rows, ""))
    verdicts = report.get("judge")
    if verdicts:
        rows = [[c, _fmt(s["tsuki"]), _fmt(s["tenji"]), f"{s['scored']}", str(s["unparsed"])]
                for c, s in verdicts["scores"].items()]
        tables.append((f"Judge {verdicts['model']}: rubric scores (1–5)",
                       ["contestant", "付き", "転じ", "scored", "unreadable"], rows, JUDGE_NOTE))
        rows = [[p["a"], p["b"], _fmt(p["a_win_rate"], True), _fmt(p["a_wins"]),
                 _fmt(p["b_wins"]), str(p["ties"]), str(p["unparsed"])]
                for p in verdicts["pairs"]]
        tables.append((f"Judge {verdicts['model']}: the better of two",
                       ["A", "B", "A's win rate", "A wins", "B wins", "ties", "unreadable"], rows,
                       ""))
    arena = report.get("arena")
    if arena:
        rows = [[r["model"], _fmt(r["rank"]), _fmt(r["rating"]),
                 f"{_fmt(r['ci_low'])} – {_fmt(r['ci_high'])}", str(r["votes"]),
                 _fmt(r["win_rate"], True)] for r in arena["rows"]]
        tables.append((f"Arena ({arena['total_votes']} votes)",
                       ["model", "rank", "rating", "95% CI", "votes", "win rate"], rows, ""))
    return tables


def _markdown(report: dict[str, Any], pngs: dict[str, str]) -> str:
    lines = [f"# tsukeku evaluation — {report['when']}", "",
             f"{report['test_prompts']} held-out 前句 from `{report['data']}`, {report['n']} "
             f"candidates each, seed {report['seed']}; machine: {report['machine']}.", ""]
    for title, header, rows, note in _tables(report):
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |",
                  "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
                  for row in rows]
        lines += ["", note] if note else []
        lines.append("")
    lines += ["## Samples (best candidate, constrained)", ""]
    for name, entry in report["models"].items():
        sample = entry["samples"].get("constrained") or next(iter(entry["samples"].values()), [])
        lines.append(f"**{name}**")
        lines.append("")
        lines += [f"- {s['previous']} → {s['candidate'] or '(none)'}  ({s['reading'] or ''})"
                  for s in sample]
        lines.append("")
    lines += ["## Plots", ""] + [f"![{k}]({v})" for k, v in pngs.items()] + [""]
    return "\n".join(lines)


def _html(report: dict[str, Any], pngs: dict[str, str]) -> str:
    e = html.escape
    parts = ["<!doctype html><html lang='ja'><head><meta charset='utf-8'>",
             f"<title>tsukeku evaluation {e(report['when'])}</title>",
             "<style>body{font-family:sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem}"
             "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;"
             "padding:.25rem .5rem;text-align:right}td:first-child,th:first-child{text-align:left}"
             "img{max-width:100%}</style></head><body>",
             f"<h1>tsukeku evaluation — {e(report['when'])}</h1>",
             f"<p>{report['test_prompts']} held-out 前句 from <code>{e(report['data'])}</code>, "
             f"{report['n']} candidates each, seed {report['seed']}; machine: "
             f"{e(report['machine'])}.</p>"]
    for title, header, rows, note in _tables(report):
        parts.append(f"<h2>{e(title)}</h2><table><tr>"
                     + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows]
        parts.append("</table>")
        if note:
            parts.append(f"<p><small>{e(note)}</small></p>")
    parts.append("<h2>Samples (best candidate, constrained)</h2>")
    for name, entry in report["models"].items():
        sample = entry["samples"].get("constrained") or next(iter(entry["samples"].values()), [])
        parts.append(f"<h3>{e(name)}</h3><ul>")
        parts += [f"<li>{e(s['previous'])} → {e(s['candidate'] or '(none)')} "
                  f"<small>{e(s['reading'] or '')}</small></li>" for s in sample]
        parts.append("</ul>")
    parts.append("<h2>Plots</h2>")
    parts += [f"<p><img src='{e(v)}' alt='{e(k)}'></p>" for k, v in pngs.items()]
    parts.append("</body></html>")
    return "\n".join(parts)


def _write(report: dict[str, Any], latencies: dict[str, list[float]], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    pngs = {"form adherence": plots.form_adherence_bars(report["models"], out / PNG_FILES["form"]).name,
            "latency": plots.latency_boxes(latencies, out / PNG_FILES["latency"]).name}
    curves = {name: heldout.loss_curve(run["run_dir"]) for name, run in report["runs"].items()}
    if curves:
        pngs["loss curves"] = plots.loss_curves(curves, out / PNG_FILES["loss"]).name
    report["plots"] = pngs
    write_json_atomic(out / "report.json", report)
    write_text_atomic(out / "report.md", _markdown(report, pngs))
    write_text_atomic(out / "report.html", _html(report, pngs))
