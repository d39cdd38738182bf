#!/usr/bin/env python3
"""Composition figures (`make bench-compose` → bench/results/compose.json).

In one run, with the tiny base fine-tuned with LoRA on the bundled dataset (trained here with a
short budget unless `--adapter RUN` names a run):

- form adherence on 200 held-out 前句 — the test and validation splits of the default bundled
  dataset build, topped up with the Hyakunin Isshu (kami → a 7-7 付句, shimo → a 5-7-5 one)
  from ../shared/data when it is there. For each 前句 the composer is asked for `n` candidates
  with mora-constrained decoding, and for `n` with plain sampling; adherence = candidates of the
  exact form (independent `check_form`, no 字余り) / candidates asked for (a missing candidate
  counts as a miss, so resampling cannot hide failures).
- cost per generated token, constrained / unconstrained: the same model, prompts, batch size
  and sampling settings, interleaved per 前句. For every generate call: wall time / (decoding
  steps × rows); the figure is the ratio of the medians over first-round calls.
- the one-off cost of building the token-reading table (fresh cache), and of loading it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RUN_NAME = "bench-compose-lora"
TARGET_PROMPTS = 200


def machine() -> str:
    from machine import describe  # benchmarks/machine.py (the script's folder is on sys.path)

    return describe(torch=True)


def log(msg: str, quiet: bool) -> None:
    if not quiet:
        print(f"[bench-compose] {msg}", file=sys.stderr, flush=True)


def heldout_prompts(data_dir: Path, shared: Path | None) -> tuple[list[tuple[str, str]], dict]:
    """(前句, 付句 form) pairs: test + validation 前句 of the dataset, then Hyakunin Isshu."""
    from tsukeku.io import read_jsonl

    seen: set[str] = set()
    prompts: list[tuple[str, str]] = []
    for split in ("test", "validation"):
        for link in read_jsonl(data_dir / f"{split}.jsonl"):
            if link["previous"] not in seen:
                seen.add(link["previous"])
                prompts.append((link["previous"], link["next_form"]))
    from_data = len(prompts)
    from_hyakunin = 0
    if shared is not None and (shared / "hyakunin_isshu.json").exists():
        poems = json.loads((shared / "hyakunin_isshu.json").read_text(encoding="utf-8"))
        extra = [(p["kami"], "7-7") for p in poems] + [(p["shimo"], "5-7-5") for p in poems]
        # alternate kami and shimo so that both directions are topped up
        extra = [x for pair in zip(extra[:100], extra[100:], strict=True) for x in pair]
        for prev, form in extra:
            if len(prompts) >= TARGET_PROMPTS:
                break
            if prev not in seen:
                seen.add(prev)
                prompts.append((prev, form))
                from_hyakunin += 1
    prompts = prompts[:TARGET_PROMPTS]
    return prompts, {"from_dataset": min(from_data, len(prompts)), "from_hyakunin": from_hyakunin}


def train_adapter(base: str, data_dir: Path, runs_dir: Path, max_steps: int | None,
                  quiet: bool) -> Path:
    """A LoRA run on the tiny base (configs/train-tiny-lora.yaml; `max_steps` overrides its
    epochs)."""
    from tsukeku.training.config import build_config
    from tsukeku.training.job import train

    cfg = build_config(REPO / "configs" / "train-tiny-lora.yaml", base=base, data=str(data_dir),
                       runs_dir=str(runs_dir), name=RUN_NAME, max_steps=max_steps,
                       mlflow=False, save_steps=10**6)
    result = train(cfg, quiet=quiet)
    return Path(result.run_dir)


def table_costs(tokenizer) -> dict[str, float]:
    """Builds the token table in an empty cache (and the per-character table with it), then
    loads it back from disk: the one-off cost and the cost of every later start."""
    from tsukeku.generation import token_table as tt

    with tempfile.TemporaryDirectory(prefix="tsukeku-table-") as tmp:
        tt.clear_memory()
        start = time.perf_counter()
        built = tt.table_for(tokenizer, cache_dir=Path(tmp))
        build = time.perf_counter() - start
        tt.clear_memory()
        start = time.perf_counter()
        loaded = tt.table_for(tokenizer, cache_dir=Path(tmp))
        tt.readable_chars(Path(tmp))
        load = time.perf_counter() - start
        assert loaded.from_cache and loaded.key == built.key
    return {"token_table_build_seconds": round(build, 3),
            "token_table_load_seconds": round(load, 3),
            "token_table_tokens": built.size}


def exact(text: str, form: str) -> bool:
    """The independent check: the verse has exactly the morae of the form (no 字余り)."""
    from tsukeku.errors import TsukekuError
    from tsukeku.prosody import check_form

    try:
        return check_form(text, form).ok
    except TsukekuError:  # unreadable text is not a verse of the form
        return False


class ProcessorTimer:
    """Times every call of the constraint processor (its own share of a decoding step)."""

    def __init__(self):
        from tsukeku.generation import constraints

        self.seconds: list[float] = []
        self._cls = constraints.MoraConstraintLogitsProcessor
        original = self._cls.__call__
        timer = self

        def timed(proc, input_ids, scores):
            start = time.perf_counter()
            out = original(proc, input_ids, scores)
            timer.seconds.append(time.perf_counter() - start)
            return out

        self._cls.__call__ = timed


class CallLog:
    """Wraps model.generate: wall time, decoding steps and rows of every call."""

    def __init__(self, model):
        self.calls: list[dict] = []
        self.mode = ""
        self._original = model.generate
        model.generate = self  # instance attribute: the composer calls model.generate(...)

    def __call__(self, *args, **kwargs):
        prompt_len = kwargs["input_ids"].shape[1]
        rows = kwargs["input_ids"].shape[0]
        start = time.perf_counter()
        out = self._original(*args, **kwargs)
        elapsed = time.perf_counter() - start
        steps = out.sequences.shape[1] - prompt_len
        self.calls.append({"mode": self.mode, "seconds": elapsed, "steps": steps, "rows": rows})
        return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "compose.json")
    ap.add_argument("--adapter", help="a LoRA run (dir or name) of the tiny base; default: "
                                      f"train one now (runs/{RUN_NAME}-*)")
    ap.add_argument("--base", default=None, help="the base to tune (default: tiny), or of "
                                                 "--adapter (default: the one it was trained on)")
    ap.add_argument("--train-steps", type=int, default=None,
                    help="steps of the LoRA run trained when no --adapter is given (default: "
                         "the schedule of configs/train-tiny-lora.yaml)")
    ap.add_argument("--n", type=int, default=2, help="candidates per 前句 and mode")
    ap.add_argument("--prompts", type=int, default=TARGET_PROMPTS)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1: steadiest timings on a shared CPU)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)

    shared = Path(os.environ.get("TSUKEKU_SHARED_DATA", REPO.parent / "shared" / "data"))
    with tempfile.TemporaryDirectory(prefix="tsukeku-bench-compose-") as work:
        return _run(args, shared, Path(work) / "data")


def _run(args: argparse.Namespace, shared: Path, data_dir: Path) -> int:
    from tsukeku.backends.local import LocalHFBackend, resolve_adapter
    from tsukeku.corpus.build import build_dataset
    from tsukeku.generation.rerank import Reranker
    from tsukeku.generation.types import ComposeRequest
    from tsukeku.io import write_json_atomic

    log("building the bundled dataset", args.quiet)
    build_dataset(("bundled",), data_dir, seed=0)
    prompts, origin = heldout_prompts(data_dir, shared if shared.exists() else None)
    prompts = prompts[: args.prompts]
    origin = {"from_dataset": min(origin["from_dataset"], len(prompts)),
              "from_hyakunin": max(0, len(prompts) - origin["from_dataset"])}

    if args.adapter:
        run = resolve_adapter(args.adapter, REPO)
    else:
        budget = f"{args.train_steps} steps" if args.train_steps else "configs/train-tiny-lora.yaml"
        log(f"training a LoRA adapter on the tiny base ({budget})", args.quiet)
        start = time.perf_counter()
        run = str(train_adapter(args.base or "tiny", data_dir, REPO / "runs", args.train_steps,
                                args.quiet))
        log(f"trained {run} in {time.perf_counter() - start:.0f} s", args.quiet)

    backend = LocalHFBackend.from_pretrained("tuned", args.base, adapter=run)
    backend.composer.reranker = Reranker.from_dataset(data_dir / "train.jsonl")
    backend.composer.oversample = 1.0  # equal batch sizes in both modes
    tokenizer = backend.loaded.tokenizer
    log("measuring the token table build", args.quiet)
    table = table_costs(tokenizer)
    calls = CallLog(backend.loaded.model)

    # warm-up (automaton states, allocator) on prompts outside the measured set
    for prev, form in (("山寺の 鐘にほどける 霞かな", "7-7"), ("畦をつたひて 雪解けの水", "5-7-5")):
        for constrained in (True, False):
            backend.compose(ComposeRequest(previous=prev, n=args.n, form=form,
                                           constrained=constrained, seed=args.seed))
    calls.calls.clear()
    processor = ProcessorTimer()

    counts = {"constrained": [0, 0], "unconstrained": [0, 0]}  # [exact form, asked]
    backend.composer.stats.clear()
    rounds: list[int] = []
    log(f"composing for {len(prompts)} held-out 前句 (n={args.n} per mode)", args.quiet)
    for i, (prev, form) in enumerate(prompts):
        order = (True, False) if i % 2 == 0 else (False, True)
        for constrained in order:
            mode = "constrained" if constrained else "unconstrained"
            calls.mode = mode
            first_call = len(calls.calls)
            result = backend.compose(ComposeRequest(previous=prev, n=args.n, form=form,
                                                    constrained=constrained,
                                                    seed=args.seed + i))
            calls.calls[first_call]["first"] = True
            good = sum(exact(c.text, form) for c in result.candidates)
            counts[mode][0] += good
            counts[mode][1] += args.n
            if constrained:
                rounds.append(len(calls.calls) - first_call)
        if not args.quiet and (i + 1) % 25 == 0:
            log(f"{i + 1}/{len(prompts)}", args.quiet)

    def per_token(mode: str) -> list[float]:
        return [c["seconds"] / (c["steps"] * c["rows"]) for c in calls.calls
                if c["mode"] == mode and c.get("first") and c["steps"] > 0]

    stats = backend.composer.stats
    cost_c, cost_u = per_token("constrained"), per_token("unconstrained")
    med_c, med_u = statistics.median(cost_c), statistics.median(cost_u)

    def mean_steps(mode: str) -> float:
        steps = [c["steps"] for c in calls.calls if c["mode"] == mode and c.get("first")]
        return round(statistics.mean(steps), 2)

    figures = {
        "constrained_form_adherence": round(counts["constrained"][0] / counts["constrained"][1], 4),
        "unconstrained_form_adherence": round(
            counts["unconstrained"][0] / counts["unconstrained"][1], 4),
        "constrained_cost_per_token_ratio": round(med_c / med_u, 4),
        "constrained_ms_per_token_median": round(med_c * 1000, 4),
        "unconstrained_ms_per_token_median": round(med_u * 1000, 4),
        "constraint_processor_ms_per_step_median": round(
            statistics.median(processor.seconds) * 1000, 4),
        **table,
        "constrained_first_pass_rate": round(
            1 - (stats["failed_check"] + stats["unfinished"]) / max(1, stats["sampled"]), 4),
        "constrained_ku_recounted_per_row": round(stats["resynced"] / max(1, stats["sampled"]),
                                                  4),
        "constrained_generate_calls_per_request_mean": round(statistics.mean(rounds), 3),
        "constrained_steps_mean": mean_steps("constrained"),
        "unconstrained_steps_mean": mean_steps("unconstrained"),
        "prompts": len(prompts),
        "prompts_from_dataset": origin["from_dataset"],
        "prompts_from_hyakunin": origin["from_hyakunin"],
        "candidates_per_prompt_and_mode": args.n,
    }
    notes = (
        f"Model: tiny base + LoRA run {run}. Held-out 前句: {origin['from_dataset']} from the "
        "test+validation splits of the bundled dataset build (seed 0), "
        f"{origin['from_hyakunin']} from ../shared/data/hyakunin_isshu.json (kami → 7-7, "
        "shimo → 5-7-5). Adherence: candidates of the exact form by prosody.check_form / "
        "candidates asked for (missing ones count as misses). Cost: per generate call, wall "
        "time / (steps × rows), medians over the first-round calls of each mode (same prompts, "
        "interleaved, batch of n rows, temperature 0.8, top_p 0.95); constrained rows that "
        f"failed the final check were resampled ({stats['failed_check']} of "
        f"{stats['sampled']} sampled rows; {stats['unfinished']} unfinished, of which "
        f"{stats['stopped']} stopped early with a ku off the meter; the analyser recounted "
        f"{stats['resynced']} ku while decoding). Token table: "
        "built in an empty cache (includes the per-character table used for byte pieces), "
        "then loaded back from disk."
    )
    report = {"figures": figures, "machine": machine(),
              "when": datetime.now(UTC).isoformat(timespec="seconds"), "notes": notes}
    write_json_atomic(args.out, report)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    print(f"compose: constrained adherence {figures['constrained_form_adherence']:.1%}, "
          f"unconstrained {figures['unconstrained_form_adherence']:.1%}; constrained cost per "
          f"token {figures['constrained_cost_per_token_ratio']:.3f}× unconstrained; token table "
          f"built in {table['token_table_build_seconds']:.2f} s "
          f"({table['token_table_tokens']} tokens)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
