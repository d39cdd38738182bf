"""`tsukeku eval` (compare models on the test split) and `tsukeku demo` (the whole mission)."""

from __future__ import annotations

from pathlib import Path

import typer

_O = typer.Option


def eval_cmd(
    models: str = _O("tuned,base", "--models", "-m",
                     help="comma-separated model names (from --models-file) or NAME=REF, REF "
                          "being a run, an adapter dir or a base (tiny, hub id, model dir)"),
    models_file: Path | None = _O(None, "--models-file", help="models.yaml naming the models"),
    data: Path = _O(..., "--data", "-d", help="dataset dir from `tsukeku data build`"),
    out: Path = _O(Path("report"), "--out", "-o", help="where report.{json,md,html} and PNGs go"),
    n: int = _O(3, "-n", min=1, max=16, help="candidates per 前句"),
    limit: int | None = _O(None, "--limit", min=1, help="only the first N test 前句"),
    seed: int = _O(0, "--seed"),
    mode: list[str] = _O(["constrained", "unconstrained"], "--mode",
                         help="decoding mode(s) to measure (repeatable)"),
    arena_db: Path | None = _O(None, "--arena-db", help="arena votes (SQLite) to include"),
    link_distractors: int = _O(9, "--link-distractors", min=0, max=99,
                               help="next-verse selection: rank each true 付句 among this many "
                                    "others of its form (0: skip)"),
    judge: str | None = _O(None, "--judge",
                           help="a chat model of the models file (openai or bedrock) that scores "
                                "付き and 転じ (1-5) and picks the better of two; optional"),
    temperature: float = _O(0.8, "--temperature", min=0.0),
    base: str = _O("tiny", "--base", help="base for NAME=ADAPTER models outside a run"),
    runs_dir: Path = _O(Path("runs"), "--runs-dir", help="where run names are looked up"),
    quiet: bool = _O(False, "--quiet", "-q"),
    as_json: bool = _O(False, "--json", help="print report.json's figures on stdout"),
) -> None:
    """Measure models on the test split: form adherence (constrained and not), novelty,
    diversity, F1 vs the reference, next-verse selection (recall@1, MRR), held-out loss,
    latency, arena ratings; with --judge, a judge model's rubric scores and pairwise picks. Writes report.json/.md/.html + PNG plots."""
    import json

    from tsukeku.evaluation.models import registry_for
    from tsukeku.evaluation.report import evaluate

    names = [m for m in (x.strip() for x in models.split(",")) if m]
    if models_file is None and Path("models.yaml").is_file():
        models_file = Path("models.yaml")
    registry, names = registry_for(names, models_file, default_base=base, runs_dir=runs_dir)
    report = evaluate(registry, names, data, out, n=n, limit=limit, seed=seed,
                      modes=tuple(mode), arena_db=arena_db,
                      sampling={"temperature": temperature}, quiet=quiet,
                      link_distractors=link_distractors, judge=judge)
    if as_json:
        typer.echo(json.dumps({k: report.get(k) for k in ("models", "runs", "arena", "judge")},
                              ensure_ascii=False))
    elif not quiet:
        typer.echo(f"report: {(out / 'report.html').resolve()}")


def demo_cmd(
    workdir: Path = _O(Path("demo"), "--workdir", help="where data, runs and the report go"),
    host: str = _O("127.0.0.1", "--host"),
    port: int = _O(8080, "--port", "-p"),
    serve: bool = _O(True, "--serve/--no-serve", help="start the server at the end"),
    fresh: bool = _O(False, "--fresh", help="start over (removes WORKDIR)"),
    preset: str = _O("default", "--preset", help="tiny base preset (test: a reduced-size check)"),
    epochs: float = _O(4.0, "--epochs", help="training epochs (LoRA and OFT alike)"),
    max_steps: int | None = _O(None, "--max-steps", help="cap on training steps"),
    eval_limit: int | None = _O(None, "--eval-limit", help="evaluate on the first N test 前句"),
    quiet: bool = _O(False, "--quiet", "-q"),
) -> None:
    """Build the tiny base and the dataset, fine-tune with LoRA (and OFT to compare), evaluate, then
    serve the web page. Each step is skipped when its output exists."""
    from tsukeku.demo import Demo, DemoPlan

    demo = Demo(DemoPlan(workdir=workdir, preset=preset, epochs=epochs, max_steps=max_steps,
                         eval_limit=eval_limit, fresh=fresh, quiet=quiet))
    models_file = demo.run()
    typer.echo(demo.summary(host, port))
    if serve:  # `tsukeku serve` with its defaults (ServeSettings), on the demo's models
        from tsukeku.serving.app import create_app
        from tsukeku.serving.registry import registry_loader
        from tsukeku.serving.server import prepare_process
        from tsukeku.serving.server import serve as run_server
        from tsukeku.serving.settings import ServeSettings

        prepare_process()
        settings = ServeSettings(host=host, port=port, log_level="warning")
        run_server(create_app(registry_loader(models_file), settings), settings)


def register(app: typer.Typer) -> None:
    """Adds this area's commands to the top-level app."""
    app.command("eval")(eval_cmd)
    app.command("demo")(demo_cmd)
