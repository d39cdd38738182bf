#!/usr/bin/env python3
"""Next-verse selection figures (`make bench-link` → bench/results/link.json).

In one run, on the default tiny base and the default bundled dataset build:
- LoRA and OFT are trained as `tsukeku demo` trains them (tsukeku.demo.METHODS and LR: the
  validated settings, 4 epochs, batch 16, the config's default seed and max length);
- base, LoRA and OFT rank each 前句's own 付句 among 9 distractors of the same form from the same
  split (fixed seed) by their length-normalised conditional log-likelihood
  (tsukeku.evaluation.link, the scoring `tsukeku eval` reports): recall@1 of 10 (chance 0.10),
  MRR, 95 % bootstrap intervals over the 前句, and paired bootstrap intervals of tuned − base;
- the development part is the validation split, the held-out part the test split (the figures
  the issue names are the held-out ones; `dev_*` the development ones). Nothing is tuned here:
  the training settings were chosen earlier on validation loss (see bench_train.py);
- a control: the same candidates scored after another 前句 of the same kind (a fixed
  derangement), which breaks the link and must bring recall@1 back to about chance — so the
  figure measures linking, not a preference for some 付句 over others whatever the 前句;
- a positive control (development part only): a LoRA trained, with the same settings but
  MEMORISE_EPOCHS epochs, on the validation pairs themselves — a model that has learnt these very
  links — must rank far above chance there, so a tuned model at chance is the model, not a
  broken measure;
- extra, calibrated figures (`*_pmi`, never replacing the named ones): the same candidates ranked
  by log p(付句 | 前句) − log p(付句 | the neutral prompt) (tsukeku.evaluation.link, PMI per
  token), which takes out how typical a candidate is whatever the 前句;
- extra figures on verse we did not write (`tanka_*`): classical tanka read at run time from
  ../shared/data (or $TSUKEKU_SHARED_DATA; skipped with a reason when absent; never copied into
  the repository) — Hyakunin Isshu and Kokinshu volumes 1–7, each poem's 上の句 (5-7-5) as the
  前句 and its own 下の句 (7-7) as the 付句 among 9 下の句 of other poems of the same part; the
  parts are fixed here (the dataset builder's seeded split, TANKA_PROPORTIONS: dev =
  its validation split, held-out = its test split).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SEED = 0  # distractors, derangement and bootstrap
SPLITS = {"dev": "validation", "heldout": "test"}
MODELS = ("base", "lora", "oft")
THREADS = int(os.environ.get("BENCH_THREADS", "1"))
MEMORISE_EPOCHS = 20.0
# the tanka are for measuring only: (train, dev, held-out) shares of the builder's split, the
# "train" share the smallest the builder accepts (it wants one), so nearly every poem is scored
TANKA_PROPORTIONS = (0.001, 0.5, 0.499)
TANKA_SOURCES = {"hyakunin": "hyakunin_isshu.json", "kokinshu": "kokinshu_vol1-7.json"}
TANKA_MODELS = ("base", "lora")


def shared_data() -> Path:
    return Path(os.environ.get("TSUKEKU_SHARED_DATA", REPO.parent / "shared" / "data"))


def tanka_splits(work: Path) -> tuple[dict[str, list[dict]], str]:
    """{"dev": records, "heldout": records} of the classical tanka (上の句 → 下の句), or ({}, why
    not) when the reference data is absent."""
    from tsukeku.corpus.build import build_dataset

    folder = shared_data()
    missing = [f for f in TANKA_SOURCES.values() if not (folder / f).is_file()]
    if missing:
        return {}, f"tanka figures skipped: {', '.join(missing)} not in {folder}"
    built = build_dataset([f"{name}:{folder / f}" for name, f in TANKA_SOURCES.items()],
                          work / "tanka", seed=SEED, proportions=TANKA_PROPORTIONS)
    return {part: built.splits[split] for part, split in SPLITS.items()}, (
        f"tanka: {', '.join(TANKA_SOURCES.values())} from {folder} read at run time "
        f"(上の句 → 下の句; dev {len(built.splits['validation'])}, held-out "
        f"{len(built.splits['test'])} poems)")


def named(key: str, suffix: str) -> str:
    """`key` with `suffix` before its interval part: recall_at_1_ci_low → recall_at_1_pmi_ci_low."""
    stem, ci, bound = key.partition("_ci_")
    return f"{stem}{suffix}{ci}{bound}"


def put(figures: dict[str, float], key: str, summary: dict) -> None:
    """recall@1 and MRR of a summary under `key` (a format string with {m}) with intervals."""
    for m in ("recall_at_1", "mrr"):
        name = key.format(m=m)
        figures[name] = summary[m]
        figures[f"{name}_ci_low"] = summary[f"{m}_ci_low"]
        figures[f"{name}_ci_high"] = summary[f"{m}_ci_high"]


def train_runs(base: str, data: Path, runs: Path, epochs: float) -> dict[str, Path]:
    """LoRA and OFT runs with the demo's settings (the project's validated defaults)."""
    from tsukeku.demo import LR, METHODS
    from tsukeku.training.config import build_config
    from tsukeku.training.job import train

    out = {}
    for name, method, options in METHODS.values():
        cfg = build_config(name=name, base=base, data=str(data), method=method, lr=LR,
                           epochs=epochs, batch_size=16, runs_dir=str(runs), save_steps=10**6,
                           eval_steps=50, mlflow=False, **options)
        out["lora" if method == "lora" else method] = Path(train(cfg, quiet=True).run_dir)
    return out


def memoriser(base: str, data: Path, work: Path) -> Path:
    """A LoRA run trained on the validation pairs (the positive control's model)."""
    import shutil

    from tsukeku.demo import LR, METHODS
    from tsukeku.training.config import build_config
    from tsukeku.training.job import train

    memo = work / "memorise-data"
    memo.mkdir()
    for f in ("validation.jsonl", "test.jsonl", "prompt.json"):
        shutil.copy(data / f, memo / f)
    shutil.copy(data / "validation.jsonl", memo / "train.jsonl")
    name, method, options = METHODS["tuned"]
    cfg = build_config(name="memorise", base=base, data=str(memo), method=method, lr=LR,
                       epochs=MEMORISE_EPOCHS, batch_size=16, runs_dir=str(work / "runs"),
                       save_steps=10**6, eval_steps=10**6, mlflow=False, **options)
    return Path(train(cfg, quiet=True).run_dir)


def mismatched(items: list, seed: int) -> list:
    """The same candidates after another item's 前句 and context of the same form (a seeded
    derangement within each form: no item keeps its own 前句)."""
    import numpy as np

    from tsukeku.evaluation.link import LinkItem

    rng = np.random.default_rng(seed)
    out = list(items)
    by_form: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        by_form.setdefault(it.record["next_form"], []).append(i)
    for idx in by_form.values():
        if len(idx) < 2:
            continue
        shift = rng.permutation(len(idx))
        # a cyclic shift of a random order: every item gets the 前句 of the next one in it
        for a, b in zip(shift, np.roll(shift, -1), strict=True):
            src = items[idx[b]].record
            rec = {**items[idx[a]].record, "previous": src["previous"],
                   "context": src.get("context") or []}
            out[idx[a]] = LinkItem(rec, items[idx[a]].candidates)
    return out


def tanka_text(figures: dict, note: str, seconds: float) -> str:
    if "tanka_items" not in figures:
        return note

    def iv(key: str) -> str:
        return (f"{figures[key]:.3f} [{figures[key + '_ci_low']:.3f}, "
                f"{figures[key + '_ci_high']:.3f}]")

    return (f"{note}: held-out recall@1 base {iv('tanka_recall_at_1_base')}, LoRA "
            f"{iv('tanka_recall_at_1_lora')}; PMI base {iv('tanka_recall_at_1_base_pmi')}, LoRA "
            f"{iv('tanka_recall_at_1_lora_pmi')}; dev base {figures['dev_tanka_recall_at_1_base']:.3f}, "
            f"LoRA {figures['dev_tanka_recall_at_1_lora']:.3f} ({seconds:.0f} s)")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "link.json"))
    p.add_argument("--preset", default="default", help="tiny base preset (test: a quick dry run)")
    p.add_argument("--epochs", type=float, default=4.0)
    a = p.parse_args()
    import torch

    torch.set_num_threads(THREADS)
    from machine import describe

    from tsukeku.backends.registry import registry_from_dict
    from tsukeku.corpus.build import build_dataset
    from tsukeku.evaluation import link
    from tsukeku.evaluation.heldout import MAX_LENGTH
    from tsukeku.io import write_json_atomic
    from tsukeku.models.tiny import default_base_path
    from tsukeku.training.data import read_split
    from tsukeku.training.environment import git_state

    started = time.time()
    base = str(default_base_path(preset=a.preset, quiet=False))
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-link-") as tmp:
        data = Path(tmp) / "data"
        stats = build_dataset(("bundled",), data, seed=0).stats
        t0 = time.time()
        runs = train_runs(base, data, Path(tmp) / "runs", a.epochs)
        runs["memorised"] = memoriser(base, data, Path(tmp))
        train_seconds = time.time() - t0
        registry = registry_from_dict({"models": {
            "base": {"kind": "local", "base": base},
            **{name: {"kind": "local", "base": base, "adapter": str(run)}
               for name, run in runs.items()},
        }})
        t0 = time.time()
        for part, split in SPLITS.items():
            records = read_split(data, split)
            items = link.link_items(records, records, distractors=link.DISTRACTORS, seed=SEED)
            control = mismatched(items, SEED)
            results = {}
            prefix = "" if part == "heldout" else "dev_"
            pmi = {}
            for name in MODELS:
                backend = registry.get(name)
                results[name], pmi[name] = link.score_calibrated(backend, items,
                                                                 max_length=MAX_LENGTH)
                put(figures, f"{prefix}{{m}}_{name}", results[name].summary(seed=SEED))
                put(figures, f"{prefix}{{m}}_{name}_pmi", pmi[name].summary(seed=SEED))
                c = link.score_items(backend, control, max_length=MAX_LENGTH).summary(seed=SEED)
                figures[f"{prefix}recall_at_1_{name}_mismatched"] = c["recall_at_1"]
            for tuned in ("lora", "oft"):
                for res, suffix in ((results, ""), (pmi, "_pmi")):
                    d = link.paired_difference(res[tuned], res["base"], seed=SEED)
                    for key in ("recall_at_1", "recall_at_1_ci_low", "recall_at_1_ci_high", "mrr"):
                        figures[f"{prefix}{tuned}_minus_base_{named(key, suffix)}"] = d[key]
            if part == "dev":  # the positive control: a model that learnt these links
                plain, cal = link.score_calibrated(registry.get("memorised"), items,
                                                   max_length=MAX_LENGTH)
                s, c = plain.summary(seed=SEED), cal.summary(seed=SEED)
                figures["dev_recall_at_1_memorised"] = s["recall_at_1"]
                figures["dev_mrr_memorised"] = s["mrr"]
                figures["dev_recall_at_1_memorised_pmi"] = c["recall_at_1"]
                figures["dev_mrr_memorised_pmi"] = c["mrr"]
            figures[f"{prefix}items"] = len(items)
            figures[f"{prefix}chance_recall_at_1"] = 1 / (1 + link.DISTRACTORS)
        score_seconds = time.time() - t0
        t0 = time.time()
        tanka, tanka_note = tanka_splits(Path(tmp))
        for part, records in tanka.items():
            prefix = "tanka_" if part == "heldout" else "dev_tanka_"
            items = link.link_items(records, records, distractors=link.DISTRACTORS, seed=SEED)
            res, pmi = {}, {}
            for name in TANKA_MODELS:
                res[name], pmi[name] = link.score_calibrated(registry.get(name), items,
                                                             max_length=MAX_LENGTH)
                put(figures, f"{prefix}{{m}}_{name}", res[name].summary(seed=SEED))
                put(figures, f"{prefix}{{m}}_{name}_pmi", pmi[name].summary(seed=SEED))
            for results, suffix in ((res, ""), (pmi, "_pmi")):
                d = link.paired_difference(results["lora"], results["base"], seed=SEED)
                for key in ("recall_at_1", "recall_at_1_ci_low", "recall_at_1_ci_high"):
                    figures[f"{prefix}lora_minus_base_{named(key, suffix)}"] = d[key]
            figures[f"{prefix}items"] = len(items)
        tanka_seconds = time.time() - t0
    figures = {k: round(v, 6) if isinstance(v, float) else v for k, v in figures.items()}

    def iv(key: str) -> str:
        return (f"{figures[key]:.3f} [{figures[key + '_ci_low']:.3f}, "
                f"{figures[key + '_ci_high']:.3f}]")

    separated = figures["recall_at_1_lora_ci_low"] > figures["recall_at_1_base_ci_high"]
    result = {
        "figures": figures,
        "machine": describe(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "notes": (
            f"tiny base preset {a.preset}; bundled data {stats.get('by_split')} links; LoRA and "
            f"OFT trained as tsukeku demo trains them ({a.epochs:g} epochs; {train_seconds:.0f} s "
            f"with the control's training); each 前句's own 付句 among {link.DISTRACTORS} distractors of the same form "
            f"from its split (seed {SEED}), ranked by mean log-probability per 付句 token "
            f"(end marker and eos included) after the model's prompt; 95 % percentile bootstrap "
            f"over the 前句 ({link.RESAMPLES} resamples, seed {SEED}); held-out = test split "
            f"({figures['items']} 前句), dev = validation split ({figures['dev_items']}); "
            f"held-out recall@1 base {iv('recall_at_1_base')}, LoRA {iv('recall_at_1_lora')}, "
            f"OFT {iv('recall_at_1_oft')}; LoRA's interval "
            f"{'lies above' if separated else 'overlaps'} base's; paired LoRA − base "
            f"{figures['lora_minus_base_recall_at_1']:+.3f} "
            f"[{figures['lora_minus_base_recall_at_1_ci_low']:+.3f}, "
            f"{figures['lora_minus_base_recall_at_1_ci_high']:+.3f}]; "
            f"*_mismatched: the same candidates after another 前句 of the same kind (a control "
            f"that should sit near chance {figures['chance_recall_at_1']:.2f}); positive control "
            f"dev_recall_at_1_memorised {figures['dev_recall_at_1_memorised']:.3f}: a LoRA "
            f"trained {MEMORISE_EPOCHS:g} epochs on the validation pairs themselves, scored on "
            f"them (the measure finds links a model has); extra calibrated figures *_pmi "
            f"(log p(付句 | 前句) − log p(付句 | the template with an empty 前句), per token): "
            f"held-out base {iv('recall_at_1_base_pmi')}, LoRA {iv('recall_at_1_lora_pmi')}, "
            f"OFT {iv('recall_at_1_oft_pmi')}; memorised control with PMI "
            f"{figures['dev_recall_at_1_memorised_pmi']:.3f}; "
            f"{tanka_text(figures, tanka_note, tanka_seconds)}; nothing here was tuned on the "
            f"held-out parts; one training "
            f"seed (the config default), so the intervals cover the choice of 前句, not training "
            f"noise; {THREADS} torch thread(s); scoring {score_seconds:.0f} s; commit "
            f"{git_state().get('commit')}; {time.time() - started:.0f} s in all"
        ),
    }
    write_json_atomic(Path(a.out), result)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    print(f"link (test, {figures['items']} 前句, chance 0.10): recall@1 base "
          f"{iv('recall_at_1_base')}, LoRA {iv('recall_at_1_lora')}, OFT {iv('recall_at_1_oft')}; "
          f"MRR base {figures['mrr_base']:.3f}, LoRA {figures['mrr_lora']:.3f}, OFT "
          f"{figures['mrr_oft']:.3f}; mismatched-前句 control LoRA "
          f"{figures['recall_at_1_lora_mismatched']:.3f}; memorised (dev) "
          f"{figures['dev_recall_at_1_memorised']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
