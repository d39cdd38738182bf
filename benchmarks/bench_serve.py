#!/usr/bin/env python3
"""Serving benchmark (`make bench-serve` → bench/results/serve.json).

Runs the real server (`tsukeku serve`, a subprocess on 127.0.0.1) on the tiny offline base —
with the newest fine-tuned adapter under ./runs when one is there — and drives it with
closed-loop HTTP clients posting 前句 from the bundled corpus to POST /invocations.

1. Throughput at 16 concurrent clients on three servers of the same model, in this same run,
   driven in alternating rounds: continuous batching (the default, `--batching continuous`),
   fixed windows (`--batching window`) and `--no-batching` (the reference). Requests/s of each,
   the ratio to the unbatched server per round and its median over rounds, the worst round,
   and p50/p95/p99 latency.
2. Single-request latency: one client at a time on the continuous server (the p95 goal at 16
   clients is stated against it).
3. Load: 32 concurrent clients for 2 minutes on the continuous server: 5xx count and the
   server process's RSS growth (psutil, after a warm-up vs at the end).
4. Engine steps, in this process once the servers are gone (same model; 1 torch thread, as a
   measure of the engine's work rather than of two OpenMP threads waiting for a core on a
   shared machine): the median time of one continuous-batching step with 1 closed-loop client
   vs 16, in alternating rounds — what bounds the p95 goal (a request at 16 clients takes about
   as many steps as alone, each step_ms_16 instead of step_ms_1).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tsukeku.evaluation.metrics import percentile  # noqa: E402
from tsukeku.io import write_json_atomic  # noqa: E402


@dataclass
class Phase:
    clients: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0  # connection-level failures (no HTTP answer)

    @property
    def ok(self) -> int:
        return sum(v for k, v in self.statuses.items() if 200 <= k < 300)

    @property
    def five_xx(self) -> int:
        return sum(v for k, v in self.statuses.items() if k >= 500)

    def throughput(self) -> float:
        return self.ok / self.seconds

    def percentile(self, q: float) -> float:
        """numpy.percentile (linear interpolation), as the evaluation reports latencies."""
        return percentile(self.latencies_ms, q)


def machine() -> str:
    from machine import describe  # benchmarks/machine.py (the script's folder is on sys.path)

    return describe(torch=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def verses(limit: int = 400) -> list[str]:
    from tsukeku.corpus.bundled import bundled_texts

    texts = [t for t in bundled_texts() if len(t.split()) in (2, 3)]
    random.Random(0).shuffle(texts)
    return texts[:limit]


def newest_adapter(runs_dir: Path, preset: str) -> tuple[Path, Path] | None:
    """(adapter dir, its base) of the newest finished run under runs_dir (runs/<run>/adapter)
    trained on a tiny base of `preset` that is still on disk — an adapter only makes sense on
    the base it was trained on, and the figures are about the `preset` base."""
    if not runs_dir.is_dir():
        return None
    found = sorted(runs_dir.glob("*/adapter/adapter_config.json"),
                   key=lambda p: p.stat().st_mtime)
    for config in reversed(found):
        declared = Path(json.loads(config.read_text()).get("base_model_name_or_path") or "/")
        card = declared / "tiny_base.json"
        if card.is_file() and json.loads(card.read_text()).get("preset") == preset:
            return config.parent, declared
    return None


class Server:
    """`tsukeku serve` in a subprocess; its log goes to a file beside the results."""

    def __init__(self, args: list[str], log_path: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tsukeku", "serve", "--port", str(self.port), *args],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=REPO,
        )
        self.ps = psutil.Process(self.proc.pid)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}); see {self.log.name}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/ping", timeout=2).status_code == 200:
                    return
            time.sleep(0.5)
        raise TimeoutError(f"the server was not ready in {timeout:.0f} s; see {self.log.name}")

    def rss(self) -> int:
        return self.ps.memory_info().rss

    def metrics(self) -> str:
        return httpx.get(f"{self.url}/metrics", timeout=10).text

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: the server drains and exits
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


async def drive(url: str, clients: int, seconds: float, texts: list[str],
                parameters: dict, seed: int = 0) -> Phase:
    """`clients` closed-loop clients, each posting one request after another for `seconds`."""
    phase = Phase(clients, seconds)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds

        async def client(i: int) -> None:
            rng = random.Random(seed * 1000 + i)
            while loop.time() < deadline:
                body = {"inputs": rng.choice(texts), "parameters": parameters}
                t0 = loop.time()
                try:
                    r = await http.post("/invocations", json=body)
                except httpx.HTTPError:
                    phase.errors += 1
                    continue
                if loop.time() <= deadline:  # count only what finished inside the window
                    phase.latencies_ms.append((loop.time() - t0) * 1000)
                    phase.statuses[r.status_code] = phase.statuses.get(r.status_code, 0) + 1

        await asyncio.gather(*(client(i) for i in range(clients)))
    return phase


def batch_stats(metrics_text: str) -> tuple[float, float]:
    total = count = 0.0
    for line in metrics_text.splitlines():
        if line.startswith("tsukeku_batch_size_sum"):
            total += float(line.rsplit(" ", 1)[1])
        elif line.startswith("tsukeku_batch_size_count"):
            count += float(line.rsplit(" ", 1)[1])
    return total, count


def run(args: argparse.Namespace) -> dict:
    from tsukeku.models.tiny import default_base_path

    tuned = None if args.no_adapter or args.base else newest_adapter(REPO / "runs", args.preset)
    if tuned:
        adapter, base = tuned
    else:
        adapter, base = None, args.base or default_base_path(args.preset, quiet=False)
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    texts = verses()
    parameters = {"n": args.n, "constrained": True}
    # every server gets `tsukeku serve`'s own thread default unless --threads names a number
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS",
                                                            "TSUKEKU_TORCH_THREADS")}
    env["PYTHONUNBUFFERED"] = "1"
    if args.threads is not None:
        env["TSUKEKU_TORCH_THREADS"] = str(args.threads)
    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    common = model_args(base, adapter, work) + ["--timeout-s", "300", "--queue-size", "256",
                                                "--log-level", "warning"]
    out: dict = {}

    def phase_figures(p: Phase) -> dict:
        return {"rps": p.throughput(), "p50": p.percentile(50), "p95": p.percentile(95),
                "p99": p.percentile(99), "requests": p.ok, "5xx": p.five_xx,
                "errors": p.errors, "statuses": p.statuses}

    # -- throughput at 16: continuous batching, fixed windows and no batching, all up, driven
    # in alternating rounds so that a busy moment of the machine hits each of them.
    batched = Server(common + ["--batching", "continuous", "--max-batch", str(args.max_batch)],
                     work / "server-continuous.log", env)
    window = Server(common + ["--batching", "window", "--max-batch", str(args.max_batch),
                              "--batch-window-ms", str(args.window_ms)],
                    work / "server-window.log", env)
    unbatched = Server(common + ["--no-batching"], work / "server-unbatched.log", env)
    servers = {"batched": batched, "window": window, "unbatched": unbatched}
    try:
        for server in servers.values():
            server.wait_ready(args.startup_timeout)
        for i, server in enumerate(servers.values()):
            asyncio.run(drive(server.url, args.clients, args.warmup, texts, parameters, 10 + i))
        rounds: dict[str, list[Phase]] = {mode: [] for mode in servers}
        before = batch_stats(window.metrics())
        for r in range(args.rounds):
            for mode, server in servers.items():
                phase = asyncio.run(drive(server.url, args.clients, args.seconds / args.rounds,
                                          texts, parameters, seed=100 + r))
                rounds[mode].append(phase)
                print(f"round {r + 1} {mode:9} @{args.clients}: {phase.throughput():.2f} req/s, "
                      f"p50 {phase.percentile(50):.0f} ms", file=sys.stderr)
        after = batch_stats(window.metrics())
        health_all = httpx.get(f"{batched.url}/health", timeout=10).json()
        health = health_all["models"][0]
        out["server_threads"] = health_all.get("torch_threads")
        for mode, phases in rounds.items():
            pooled = Phase(args.clients, sum(p.seconds for p in phases))
            for p in phases:
                pooled.latencies_ms += p.latencies_ms
                pooled.errors += p.errors
                for k, v in p.statuses.items():
                    pooled.statuses[k] = pooled.statuses.get(k, 0) + v
            out[mode] = phase_figures(pooled)
            out[mode]["rounds_rps"] = [round(p.throughput(), 3) for p in phases]
        for mode, key in (("batched", "round_ratios"), ("window", "window_round_ratios")):
            out[key] = [round(b.throughput() / u.throughput(), 3) if u.throughput() else None
                        for b, u in zip(rounds[mode], rounds["unbatched"], strict=True)]
        out["continuous_vs_window_round_ratios"] = [
            round(b.throughput() / w.throughput(), 3) if w.throughput() else None
            for b, w in zip(rounds["batched"], rounds["window"], strict=True)]
        out["window"]["mean_batch_size"] = (after[0] - before[0]) / max(1.0, after[1] - before[1])
        out["batched"]["mean_running_requests"] = health.get("mean_requests_per_step")
        out["batched"]["batching_mode"] = health.get("batching_mode")
    finally:
        unbatched.stop()
        window.stop()

    # -- one request at a time on the continuous server ----------------------------------------
    single = asyncio.run(drive(batched.url, 1, args.single_seconds, texts, parameters, 77))
    out["single"] = phase_figures(single)
    print(f"single    @1: {single.throughput():.2f} req/s, p50 {single.percentile(50):.0f} ms",
          file=sys.stderr)

    # -- load: 32 clients on the batched server; RSS after a warm-up vs at the end -------------
    try:
        # Warm up until the server's memory stops growing: its bounded caches (prosody
        # lattices, reranker word sets) fill over the first few thousand distinct verses, and
        # the figure is about growth after that (a leak), not about caches filling.
        warm_rss = [batched.rss()]
        warmed = 0.0
        while warmed < args.load_warmup_max:
            asyncio.run(drive(batched.url, args.load_clients, 20.0, texts, parameters,
                              seed=1000 + int(warmed)))
            warmed += 20.0
            warm_rss.append(batched.rss())
            if warmed >= args.load_warmup and (warm_rss[-1] - warm_rss[-2]) / warm_rss[-2] < 0.01:
                break
        rss_start = batched.rss()
        samples = [rss_start]

        async def load_with_rss() -> Phase:
            task = asyncio.create_task(
                drive(batched.url, args.load_clients, args.load_seconds, texts, parameters, 4))
            while not task.done():
                await asyncio.sleep(5)
                samples.append(batched.rss())
            return await task

        load = asyncio.run(load_with_rss())
        rss_end = batched.rss()
        out["load"] = phase_figures(load)
        out["load"].update(rss_start_mib=rss_start / 2**20, rss_end_mib=rss_end / 2**20,
                           rss_max_mib=max(samples) / 2**20,
                           rss_samples_mib=[round(x / 2**20, 1) for x in samples],
                           rss_growth=(rss_end - rss_start) / rss_start,
                           warmup_s=warmed,
                           warmup_rss_mib=[round(x / 2**20, 1) for x in warm_rss])
        print(f"load      @{args.load_clients}: {load.ok} ok, {load.five_xx} 5xx, RSS "
              f"{rss_start / 2**20:.0f} → {rss_end / 2**20:.0f} MiB", file=sys.stderr)
    finally:
        batched.stop()

    # -- engine steps in this process (the servers are gone) ------------------------------------
    from serve_steps import engine_steps  # benchmarks/serve_steps.py (this script's folder)

    out["steps"] = engine_steps(base, adapter, args.step_threads, args.step_seconds,
                                args.step_rounds, texts, args.n)
    print(f"steps     @1/@16: {out['steps'][1]['step_ms']:.1f} / "
          f"{out['steps'][16]['step_ms']:.1f} ms", file=sys.stderr)

    out["config"] = {"base": str(base), "adapter": str(adapter) if adapter else None,
                     "n": args.n, "constrained": True, "clients": args.clients,
                     "load_clients": args.load_clients, "seconds": args.seconds,
                     "load_seconds": args.load_seconds, "warmup_s": args.warmup,
                     "rounds": args.rounds, "load_warmup_s": args.load_warmup,
                     "load_average": load_at_start,
                     "max_batch": args.max_batch, "batch_window_ms": args.window_ms,
                     "single_seconds": args.single_seconds,
                     "step_seconds": args.step_seconds, "step_rounds": args.step_rounds,
                     "step_threads": args.step_threads,
                     "load_average_end": [round(x, 2) for x in os.getloadavg()],
                     "server_threads": out.get("server_threads")}
    return out


def model_args(base: Path, adapter: Path | None, work: Path) -> list[str]:
    """The `tsukeku serve` arguments naming the model: a models file with the adapter when a
    fine-tuned run is there, else the tiny base."""
    from tsukeku.serving.registry import write_models_file

    path = write_models_file(work / "models.yaml", "bench", base=base, adapter=adapter)
    return ["--models", str(path)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--seconds", type=float, default=60.0,
                   help="throughput seconds per server, split into --rounds windows")
    p.add_argument("--rounds", type=int, default=4,
                   help="alternating batched/unbatched windows (a busy moment hits both)")
    p.add_argument("--load-clients", type=int, default=32)
    p.add_argument("--load-seconds", type=float, default=120.0)
    p.add_argument("--warmup", type=float, default=10.0)
    p.add_argument("--single-seconds", type=float, default=15.0,
                   help="one client at a time on the continuous server (single-request latency)")
    p.add_argument("--step-seconds", type=float, default=6.0,
                   help="in-process engine steps: seconds per round at 1 and at 16 clients")
    p.add_argument("--step-rounds", type=int, default=2)
    p.add_argument("--step-threads", type=int, default=1, help="torch threads for the steps")
    p.add_argument("--load-warmup", type=float, default=60.0,
                   help="least 32-client warm-up before the RSS baseline")
    p.add_argument("--load-warmup-max", type=float, default=480.0,
                   help="most warm-up: it ends once RSS grew < 1%% in 20 s (bounded caches full)")
    p.add_argument("--n", type=int, default=3, help="candidates per request")
    p.add_argument("--max-batch", type=int, default=16)
    p.add_argument("--window-ms", type=float, default=10.0)
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads of each server (default: tsukeku serve's own default)")
    p.add_argument("--preset", default="default", help="tiny base preset (default | test)")
    p.add_argument("--no-adapter", action="store_true", help="ignore runs under ./runs")
    p.add_argument("--base", type=Path, default=None,
                   help="a base model directory to serve instead (no adapter)")
    p.add_argument("--startup-timeout", type=float, default=900.0)
    p.add_argument("--quick", action="store_true", help="a short smoke run (not for figures)")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "serve.json")
    args = p.parse_args(argv)
    if args.quick:
        args.seconds, args.load_seconds, args.warmup, args.preset = 8.0, 10.0, 3.0, "test"
        args.single_seconds = 4.0
        args.step_seconds, args.step_rounds = 2.0, 1
        args.rounds, args.load_warmup, args.load_warmup_max = 2, 3.0, 20.0

    started = time.time()
    res = run(args)
    b, u, w, load = res["batched"], res["unbatched"], res["window"], res["load"]
    steps = res["steps"]
    ratios = [x for x in res["round_ratios"] if x is not None]
    window_ratios = [x for x in res["window_round_ratios"] if x is not None]
    single_ms = res["single"]["p50"]
    figures = {
        # the median of the rounds' ratios (continuous batching vs no batching, same rounds)
        "batched_vs_unbatched_throughput_ratio_16": statistics.median(ratios) if ratios else None,
        "batched_vs_unbatched_ratio_16_min": min(ratios) if ratios else None,
        "batched_vs_unbatched_pooled_ratio_16": b["rps"] / u["rps"] if u["rps"] else None,
        "window_vs_unbatched_throughput_ratio_16": statistics.median(window_ratios)
        if window_ratios else None,
        "window_vs_unbatched_ratio_16_min": min(window_ratios) if window_ratios else None,
        "continuous_vs_window_throughput_ratio_16":
            statistics.median(res["continuous_vs_window_round_ratios"]),
        "p50_ms_16": b["p50"], "p95_ms_16": b["p95"], "p99_ms_16": b["p99"],
        "single_request_ms": single_ms,
        "p95_16_vs_single_ratio": b["p95"] / single_ms if single_ms else None,
        "window_throughput_rps_16": w["rps"], "window_p50_ms_16": w["p50"],
        "window_p95_ms_16": w["p95"],
        "throughput_rps_16": b["rps"],
        "unbatched_throughput_rps_16": u["rps"],
        "unbatched_p50_ms_16": u["p50"], "unbatched_p95_ms_16": u["p95"],
        "unbatched_p99_ms_16": u["p99"],
        "mean_batch_size_16": w["mean_batch_size"],
        "mean_running_requests_16": b["mean_running_requests"],
        "load_5xx": load["5xx"], "load_requests": load["requests"],
        "load_connection_errors": load["errors"],
        "load_rss_growth": load["rss_growth"],
        "load_p50_ms_32": load["p50"], "load_p95_ms_32": load["p95"],
        # in-process engine steps: what the p95 goal at 16 clients is up against
        "step_ms_1": steps[1]["step_ms"], "step_ms_16": steps[16]["step_ms"],
        "step_ms_16_vs_1_ratio": steps[16]["step_ms"] / steps[1]["step_ms"],
        "requests_per_step_16": steps[16]["requests_per_step"],
        "rows_per_step_1": steps[1]["rows_per_step"],
        "rows_per_step_16": steps[16]["rows_per_step"],
        "steps_per_request_1": steps[1]["steps_per_request_p50"],
        "steps_per_request_16": steps[16]["steps_per_request_p50"],
        "model_ms_per_request_1": steps[1]["model_ms_per_request"],
        "model_ms_per_request_16": steps[16]["model_ms_per_request"],
        # closed loop of 16 clients on one engine: mean latency = 16 / throughput, and the
        # model's forwards alone take model_ms_per_request_16 of each request's share
        "latency_floor_ms_16": args.clients * steps[16]["model_ms_per_request"],
        # what batching saves of the model's own work per request on this device
        "model_batching_gain_16": steps[1]["model_ms_per_request"]
        / steps[16]["model_ms_per_request"],
        "server_torch_threads": res.get("server_threads"),
    }
    cfg = res["config"]
    result = {
        "figures": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in figures.items()},
        "machine": machine(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "notes": (
            f"tsukeku serve subprocess on 127.0.0.1, model: tiny base ({Path(cfg['base']).name})"
            + (f" + adapter {cfg['adapter']}" if cfg["adapter"] else " (no fine-tuned run found)")
            + f"; POST /invocations n={cfg['n']} constrained; closed-loop httpx clients in the "
            f"benchmark process; {cfg['clients']} clients for {cfg['seconds']:g} s on each of "
            f"three servers of the same model — continuous batching (max "
            f"{cfg['max_batch']} requests in the running batch), fixed windows (max batch "
            f"{cfg['max_batch']}, window {cfg['batch_window_ms']:g} ms) and --no-batching — in "
            f"{cfg['rounds']} alternating rounds; batched_vs_unbatched_throughput_ratio_16 is the "
            f"median of the per-round ratios continuous/unbatched {res['round_ratios']} (window/"
            f"unbatched {res['window_round_ratios']}, continuous/window "
            f"{res['continuous_vs_window_round_ratios']}); single_request_ms: p50 of one client "
            f"for {cfg['single_seconds']:g} s on the continuous server; load: "
            f"{cfg['load_clients']} clients for {cfg['load_seconds']:g} s after a "
            f"{res['load']['warmup_s']:g} s warm-up at {cfg['load_clients']} clients (until RSS "
            f"grew < 1% in 20 s), RSS of the server process from psutil; step_ms_1 / "
            f"step_ms_16: median continuous-batching engine step in the benchmark process "
            f"after the servers stopped (same model, {cfg['step_threads']} torch thread(s)), 1 vs "
            f"16 closed-loop "
            f"clients, {cfg['step_rounds']} alternating rounds of {cfg['step_seconds']:g} s; "
            f"server torch threads {cfg['server_threads']}; the machine is shared with other "
            f"jobs (load average at start {cfg['load_average']}, at the end "
            f"{cfg['load_average_end']}); "
            f"total {time.time() - started:.0f} s" + ("; QUICK smoke run" if args.quick else "")
        ),
        "details": res,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(args.out, result)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    f = result["figures"]
    print(f"serve: continuous/unbatched throughput at {cfg['clients']} clients median "
          f"{f['batched_vs_unbatched_throughput_ratio_16']}× (rounds {res['round_ratios']}, "
          f"window/unbatched {res['window_round_ratios']}), p50/p95 "
          f"{f['p50_ms_16']}/{f['p95_ms_16']} ms vs single {f['single_request_ms']} ms; load {cfg['load_clients']} clients: {f['load_5xx']} 5xx, RSS growth "
          f"{f['load_rss_growth']:.1%}; engine step {f['step_ms_1']:.1f} ms @1 vs "
          f"{f['step_ms_16']:.1f} ms @16")
    return 0


if __name__ == "__main__":
    sys.exit(main())
