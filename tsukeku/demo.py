"""`tsukeku demo` (= `make demo`): the whole mission on a laptop, CPU only, offline.

tiny base → dataset from the bundled corpus → LoRA fine-tune → evaluation of tuned vs base →
the server with the web page. Every step is skipped when its output already exists, so a second
run goes straight to serving; `--fresh` starts over."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from tsukeku.io import write_text_atomic

# The tuned model is LoRA; OFT is trained with the same data and budget so that the report
# compares the methods. Model name in models.yaml → (run name, method, method options).
METHODS = {
    "tuned": ("demo-lora", "lora", {"rank": 64, "alpha": 128}),
    "oft": ("demo-oft", "oft", {"oft_block_size": 32, "dropout": 0.0}),
}
LR = 4e-3


@dataclass
class DemoPlan:
    workdir: Path = Path("demo")
    preset: str = "default"  # the tiny base preset; "test" for a reduced-size check
    epochs: float = 4.0
    max_steps: int | None = None
    eval_limit: int | None = None
    n: int = 3
    fresh: bool = False
    quiet: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def runs_dir(self) -> Path:
        return self.workdir / "runs"

    @property
    def report_dir(self) -> Path:
        return self.workdir / "report"

    @property
    def models_file(self) -> Path:
        return self.workdir / "models.yaml"

    @property
    def base(self) -> str:
        return "tiny" if self.preset == "default" else f"tiny:{self.preset}"


class Demo:
    def __init__(self, plan: DemoPlan):
        self.plan = plan
        self.console = Console(stderr=True, quiet=plan.quiet)

    def _step(self, title: str, done: bool, action) -> Any:
        if done:
            self.console.print(f"[green]✓[/] {title} [dim](already there; skipped)[/]")
            return None
        self.console.rule(title)
        start = time.perf_counter()
        result = action()
        self.plan.timings[title] = round(time.perf_counter() - start, 1)
        self.console.print(f"[green]✓[/] {title} [dim]({self.plan.timings[title]} s)[/]")
        return result

    def run(self) -> Path:
        """Runs every step that is not done yet; returns the models file to serve."""
        p = self.plan
        if p.fresh and p.workdir.exists():
            shutil.rmtree(p.workdir)
        p.workdir.mkdir(parents=True, exist_ok=True)
        self._step("1/4 tiny base model (built once, then cached)", False, self._build_base)
        self._step("2/4 dataset from the bundled corpus",
                   (p.data_dir / "stats.json").is_file(), self._build_data)
        for model, (_, method, _) in METHODS.items():
            self._step(f"3/4 fine-tuning: {method.upper()} (same data, same budget)",
                       self._run_of(model) is not None, lambda m=model: self._train(m))
        self._write_models_file()
        self._step("4/4 evaluation: tuned (LoRA) vs OFT vs base",
                   (p.report_dir / "report.json").is_file(), self._evaluate)
        return p.models_file

    # -- steps ------------------------------------------------------------------------------
    def _build_base(self) -> None:
        from tsukeku.models.tiny import default_base_path

        default_base_path(preset=self.plan.preset, quiet=self.plan.quiet)

    def _build_data(self) -> None:
        from tsukeku.corpus.build import build_dataset

        build_dataset(["bundled"], self.plan.data_dir, seed=0)

    def _run_of(self, model: str) -> Path | None:
        from tsukeku.training.runs import list_runs

        name = METHODS[model][0]
        done = [r for r in list_runs(self.plan.runs_dir)
                if r.get("status") == "completed" and r["name"].startswith(f"{name}-")]
        return Path(done[-1]["run_dir"]) if done else None

    def _train(self, model: str) -> None:
        from tsukeku.training.config import build_config
        from tsukeku.training.job import train

        p = self.plan
        name, method, options = METHODS[model]
        cfg = build_config(
            name=name, base=p.base, data=str(p.data_dir), method=method, lr=LR, epochs=p.epochs,
            max_steps=p.max_steps, batch_size=16, runs_dir=str(p.runs_dir), save_steps=100,
            eval_steps=50, **options,
        )
        train(cfg, quiet=p.quiet)

    def _write_models_file(self) -> None:
        p = self.plan
        known = str((p.data_dir / "train.jsonl").resolve())
        models = {
            "default": "tuned",
            "models": {
                **{m: {"kind": "local", "base": p.base, "adapter": str(self._run_of(m).resolve()),
                       "known": known} for m in METHODS},
                "base": {"kind": "local", "base": p.base},
            },
        }
        write_text_atomic(p.models_file, yaml.safe_dump(models, allow_unicode=True, sort_keys=False))

    def _evaluate(self) -> None:
        from tsukeku.backends.registry import load_models_file
        from tsukeku.evaluation.report import evaluate

        p = self.plan
        evaluate(load_models_file(p.models_file), [*METHODS, "base"], p.data_dir, p.report_dir,
                 n=p.n, limit=p.eval_limit, quiet=p.quiet)

    def summary(self, host: str, port: int) -> str:
        p = self.plan
        url = f"http://{host}:{port}/"
        return "\n".join([
            f"web page:   {url}",
            f"report:     {(p.report_dir / 'report.html').resolve()}",
            f"models:     {p.models_file.resolve()}",
            "try:",
            f"  curl -s {url}invocations -H 'Content-Type: application/json' \\",
            "    -d '{\"inputs\": \"秋風の 吹きわたる野の 夕まぐれ\", \"parameters\": {\"n\": 3}}'",
        ])
