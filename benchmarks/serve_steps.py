"""Engine step figures for `bench_serve.py`: the continuous-batching engine run in the
benchmark's own process (after the servers are gone) with 1 and with 16 closed-loop clients,
so that the p95 goal at 16 clients can be set against what one step costs at each load."""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path

from tsukeku.evaluation.metrics import percentile


def engine_steps(base: Path, adapter: Path | None, threads: int, seconds: float, rounds: int,
                 texts: list[str], n: int) -> dict:
    """Median engine step time (ms) with 1 and with 16 closed-loop clients in this process,
    alternating rounds of `seconds` each; also requests and rows (sampled candidates) per step,
    the steps a request lasts, and the model's forward time per answered request."""
    import threading

    import torch

    from tsukeku.generation.composer import Composer
    from tsukeku.generation.engine import ContinuousEngine
    from tsukeku.generation.types import ComposeRequest

    torch.set_num_threads(threads)
    composer = Composer.load(base, adapter)
    seen: dict[int, dict[str, list[float]]] = {1: {}, 16: {}}

    def phase(clients: int, secs: float, seed: int) -> None:
        steps: list[tuple[int, int, float]] = []
        engine = ContinuousEngine(composer, max_requests=16,
                                  on_step=lambda _j, req, rows, sec: steps.append((req, rows,
                                                                                    sec)))
        engine.start()
        stop = time.perf_counter() + secs
        latencies: list[float] = []

        def client(i: int) -> None:
            rng = random.Random(seed * 1000 + i)
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                engine.submit(ComposeRequest(previous=rng.choice(texts), n=n)).wait(300)
                latencies.append(time.perf_counter() - t0)

        threads_ = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for t in threads_:
            t.start()
        for t in threads_:
            t.join()
        engine.stop()
        if seed < 0:  # warm-up
            return
        rec = seen[clients]
        rec.setdefault("model_s", []).append(engine.model_seconds)
        rec.setdefault("answered", []).append(len(latencies))
        rec.setdefault("step_s", []).extend(sec for _, _, sec in steps)
        rec.setdefault("requests", []).extend(req for req, _, _ in steps)
        rec.setdefault("rows", []).extend(rows for _, rows, _ in steps)
        rec.setdefault("latency_s", []).extend(latencies)

    phase(16, 3.0, -1)
    for r in range(rounds):
        for clients in (1, 16):
            phase(clients, seconds, r)
    out = {}
    for clients, rec in seen.items():
        step = statistics.median(rec["step_s"])
        out[clients] = {"step_ms": step * 1000, "steps": len(rec["step_s"]),
                        "requests_per_step": statistics.mean(rec["requests"]),
                        "rows_per_step": statistics.mean(rec["rows"]),
                        "latency_p50_ms": percentile([x * 1000 for x in rec["latency_s"]], 50),
                        "latency_p95_ms": percentile([x * 1000 for x in rec["latency_s"]], 95)}
        out[clients]["steps_per_request_p50"] = out[clients]["latency_p50_ms"] / 1000 / step
        # the model's forward time per answered request (decode and prefill of its rows)
        out[clients]["model_ms_per_request"] = (1000 * sum(rec["model_s"])
                                                / max(1, sum(rec["answered"])))
    return out
