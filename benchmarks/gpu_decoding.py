"""Decoding figures for `bench_gpu.py`: merged vs base decode speed, the token-reading table's
first build and cached load, the composer's constrained vs unconstrained cost per token, and 16
requests batched vs unbatched.

Run as a script (`python gpu_decoding.py TOKENIZER_DIR`) it times one `table_for` call in a
fresh process and prints the result as JSON: what `table_section` starts twice."""

from __future__ import annotations

import copy
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from gpu_run import SEED, Data, Run, train_config


def decode_section(run: Run, base: Any, tokenizer: Any, data: Data) -> None:
    """Greedy decoding of the same validation prompts, a fixed number of new tokens, by the base,
    the base + an unmerged LoRA adapter, and that adapter merged; repeats interleaved in a
    rotating order; ratios per repeat, then their median."""
    import torch

    from tsukeku.training.methods import wrap_model

    profile = run.profile
    cfg = train_config("rinna", data, profile)
    unmerged, _ = wrap_model(copy.deepcopy(base), cfg)
    for name, p in unmerged.named_parameters():
        if "lora_B" in name:  # PEFT starts B at zero; a trained adapter is not a no-op
            torch.nn.init.normal_(p, std=0.02)
    unmerged.eval()
    merged = copy.deepcopy(unmerged).merge_and_unload().eval()
    models = {"base": base.eval(), "merged": merged, "unmerged": unmerged}
    prompts = [data.template.render(prev, form) for prev, form in
               data.prompts["validation"][: profile.decode_prompts]]
    encoded = [tokenizer(p, return_tensors="pt").to(run.device) for p in prompts]

    def speed(model: Any) -> float:
        n = 0
        run.sync()
        start = time.perf_counter()
        with torch.inference_mode():
            for ids in encoded:
                out = model.generate(**ids, max_new_tokens=profile.decode_tokens,
                                     min_new_tokens=profile.decode_tokens, do_sample=False,
                                     pad_token_id=tokenizer.pad_token_id)
                n += out.shape[1] - ids["input_ids"].shape[1]
        run.sync()
        return n / (time.perf_counter() - start)

    for m in models.values():  # warm-up
        speed(m)
    speeds: dict[str, list[float]] = {k: [] for k in models}
    names = list(models)
    for i in range(profile.decode_repeats):
        for k in names[i % 3:] + names[: i % 3]:
            speeds[k].append(speed(models[k]))
    f = run.figures
    f["decode_tokens_per_s_base_rinna_3_6b"] = statistics.median(speeds["base"])
    f["decode_tokens_per_s_merged_rinna_3_6b"] = statistics.median(speeds["merged"])
    f["decode_tokens_per_s_unmerged_rinna_3_6b"] = statistics.median(speeds["unmerged"])
    f["merged_vs_base_decode_ratio_rinna_3_6b"] = statistics.median(
        m / b for m, b in zip(speeds["merged"], speeds["base"], strict=True))
    f["unmerged_vs_base_decode_ratio_rinna_3_6b"] = statistics.median(
        u / b for u, b in zip(speeds["unmerged"], speeds["base"], strict=True))
    del models, merged, unmerged


# --- the composer at 32k ------------------------------------------------------------------------
def table_section(run: Run, tokenizer_dir: Path) -> None:
    """The token-reading table, each time in a fresh process (TSUKEKU_HOME is this run's empty
    folder): first with nothing cached (it is built, with the per-character table), then again
    (loaded from the disk cache). The composer's later use in this run finds it cached."""
    cold = _child(tokenizer_dir)
    warm = _child(tokenizer_dir)
    if cold["from_cache"] or not warm["from_cache"]:
        raise RuntimeError(f"token table cache did not behave: first {cold}, then {warm}")
    key = "32k" if cold["size"] == 32000 else f"{cold['size']}"
    run.figures[f"token_table_build_s_{key}"] = cold["seconds"]
    run.figures[f"token_table_cached_load_s_{key}"] = warm["seconds"]
    run.figures["token_table_usable_tokens"] = cold["usable"]


def child_table(tokenizer_dir: str) -> dict[str, Any]:
    from transformers import PreTrainedTokenizerFast

    from tsukeku.generation.token_table import table_for

    tokenizer = PreTrainedTokenizerFast.from_pretrained(tokenizer_dir)
    start = time.perf_counter()
    table = table_for(tokenizer)
    usable = getattr(table, "usable", None)
    return {"seconds": time.perf_counter() - start, "from_cache": table.from_cache,
            "size": table.size, "usable": None if usable is None else int(usable.sum())}


class CallLog:
    """Wraps model.generate: wall time, decoding steps and rows of every call (as bench_compose)."""

    def __init__(self, run: Run, model: Any):
        self.run = run
        self.model = model
        self.calls: list[dict[str, Any]] = []
        self.mode = ""
        self._original = model.generate
        model.generate = self  # an instance attribute: the composer calls model.generate(...)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.run.sync()
        start = time.perf_counter()
        out = self._original(*args, **kwargs)
        self.run.sync()
        steps = out.sequences.shape[1] - kwargs["input_ids"].shape[1]
        self.calls.append({"mode": self.mode, "seconds": time.perf_counter() - start,
                           "steps": steps, "rows": kwargs["input_ids"].shape[0]})
        return out

    def restore(self) -> None:
        del self.model.generate


def compose_section(run: Run, composer: Any, data: Data) -> None:
    """Cost per generated token, constrained / unconstrained, at the 32k vocabulary: the same
    model, prompts, rows and sampling, modes interleaved per 前句; per generate call wall time /
    (steps × rows), the ratio of the medians over each request's first call. Held-out (test) 前句
    give the figure, validation 前句 the dev twin."""
    from tsukeku.generation.types import ComposeRequest

    profile = run.profile
    composer.oversample = 1.0  # the same rows in both modes
    calls = CallLog(run, composer.model)
    try:
        for prev, form in data.prompts["train"][:2]:  # warm-up (automaton states, allocator)
            for constrained in (True, False):
                composer.compose_many([ComposeRequest(previous=prev, n=profile.compose_n,
                                                      form=form, constrained=constrained,
                                                      seed=SEED)])
        for split, suffix in (("test", ""), ("validation", "_dev")):
            calls.calls.clear()
            for i, (prev, form) in enumerate(data.prompts[split][: profile.compose_prompts]):
                for constrained in ((True, False) if i % 2 == 0 else (False, True)):
                    calls.mode = "constrained" if constrained else "unconstrained"
                    first = len(calls.calls)
                    composer.compose_many([ComposeRequest(
                        previous=prev, n=profile.compose_n, form=form, constrained=constrained,
                        seed=SEED + i)])
                    calls.calls[first]["first"] = True

            def cost(mode: str) -> float:
                return statistics.median(c["seconds"] / (c["steps"] * c["rows"]) for c in calls.calls
                                         if c["mode"] == mode and c.get("first") and c["steps"])

            def steps(mode: str) -> float:
                return statistics.mean(c["steps"] for c in calls.calls
                                       if c["mode"] == mode and c.get("first"))

            c, u = cost("constrained"), cost("unconstrained")
            f = run.figures
            f[f"constrained_cost_per_token_ratio_32k{suffix}"] = c / u
            f[f"constrained_ms_per_token_32k{suffix}"] = c * 1000
            f[f"unconstrained_ms_per_token_32k{suffix}"] = u * 1000
            f[f"constrained_steps_mean{suffix}"] = steps("constrained")
            f[f"unconstrained_steps_mean{suffix}"] = steps("unconstrained")
    finally:
        calls.restore()
        composer.oversample = 1.5


def serve_section(run: Run, composer: Any, data: Data) -> None:
    """16 requests (distinct held-out 前句, constrained, n candidates, a seed each): one
    `compose_many` call vs one `compose` call per request; requests/s; rounds alternate which
    goes first; the figure is the median of the rounds' ratios."""
    from tsukeku.generation.types import ComposeRequest

    profile = run.profile
    pool = data.prompts["test"] + data.prompts["validation"]
    requests = [ComposeRequest(previous=prev, n=profile.serve_n, form=form, constrained=True,
                               seed=SEED + i)
                for i, (prev, form) in enumerate(pool[: profile.serve_requests])]
    if len(requests) < profile.serve_requests:
        raise RuntimeError(f"only {len(requests)} distinct held-out 前句 for the serving figure")

    def unbatched() -> float:
        run.sync()
        start = time.perf_counter()
        for r in requests:
            composer.compose(r.previous, n=r.n, form=r.form, constrained=r.constrained,
                             seed=r.seed)
        run.sync()
        return len(requests) / (time.perf_counter() - start)

    def batched() -> float:
        run.sync()
        start = time.perf_counter()
        composer.compose_many(requests)
        run.sync()
        return len(requests) / (time.perf_counter() - start)

    composer.compose_many(requests[:2])  # warm-up
    ratios, single, many = [], [], []
    for i in range(profile.serve_rounds):
        if i % 2 == 0:
            s, m = unbatched(), batched()
        else:
            m, s = batched(), unbatched()
        single.append(s)
        many.append(m)
        ratios.append(m / s)
    n = profile.serve_requests
    f = run.figures
    f[f"batched_vs_unbatched_throughput_ratio_{n}_gpu"] = statistics.median(ratios)
    f[f"batched_vs_unbatched_ratio_{n}_gpu_min"] = min(ratios)
    f[f"batched_requests_per_s_{n}_gpu"] = statistics.median(many)
    f["unbatched_requests_per_s_gpu"] = statistics.median(single)
    run.notes.append(f"serving rounds (batched/unbatched): {[round(r, 2) for r in ratios]}")


def _child(tokenizer_dir: Path) -> dict[str, Any]:
    r = subprocess.run([sys.executable, __file__, str(tokenizer_dir)], capture_output=True,
                       text=True, env=os.environ.copy())
    if r.returncode != 0:
        raise RuntimeError(f"the token-table process failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    print(json.dumps(child_table(sys.argv[1])))
