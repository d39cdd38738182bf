"""`tsukeku train`, `tsukeku runs list|show`, `tsukeku merge`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

runs_app = typer.Typer(help="Recorded training runs.", no_args_is_help=True)

_O = typer.Option


def train_cmd(
    config: Path | None = _O(None, "--config", "-c", help="YAML file of options (flags override it)"),
    data: str | None = _O(None, "--data", "-d", help="dataset dir from `tsukeku data build`"),
    base: str | None = _O(None, "--base", help="hub id, local dir, or tiny (default)"),
    method: str | None = _O(None, "--method", help="lora | oft | boft | dpo (preference tuning of "
                            "an SFT adapter: --adapter RUN --preferences FILE)"),
    prompt: str | None = _O(None, "--prompt", help="prompt template instead of the dataset's: "
                            "completion, instruction, instruction-rinna, chat (the base's own)"),
    name: str | None = _O(None, "--name", help="run name (run dir: <name>-<utc time>)"),
    rank: int | None = _O(None, "--rank", "-r", help="LoRA rank"),
    alpha: float | None = _O(None, "--alpha", help="LoRA alpha"),
    dropout: float | None = _O(None, "--dropout", help="adapter dropout"),
    use_dora: bool | None = _O(None, "--use-dora/--no-use-dora", help="LoRA as DoRA (weight-decomposed)"),
    oft_block_size: int | None = _O(None, "--oft-block-size"),
    boft_block_size: int | None = _O(None, "--boft-block-size"),
    boft_butterfly_factor: int | None = _O(None, "--boft-butterfly-factor"),
    target_modules: str | None = _O(None, "--target-modules", help="comma list, auto or all-linear"),
    preferences: str | None = _O(None, "--preferences", help="dpo: preference pairs (JSON Lines "
                                 "prompt/chosen/rejected)"),
    adapter: str | None = _O(None, "--adapter", help="dpo: the SFT run (dir or name) or adapter "
                             "dir to continue; also the reference model"),
    beta: float | None = _O(None, "--beta", help="dpo: β (default 0.1)"),
    loss_type: str | None = _O(None, "--loss-type", help="dpo: sigmoid | ipo | hinge | robust"),
    sft_weight: float | None = _O(None, "--sft-weight", help="dpo: weight of an added NLL loss on "
                                  "the chosen 付句 (0 = plain DPO)"),
    lr: float | None = _O(None, "--lr", help="learning rate (default 1e-3 on tiny, 2e-4 otherwise)"),
    schedule: str | None = _O(None, "--schedule", help="cosine | linear | constant | constant_with_warmup"),
    warmup_ratio: float | None = _O(None, "--warmup-ratio"),
    weight_decay: float | None = _O(None, "--weight-decay"),
    epochs: float | None = _O(None, "--epochs"),
    max_steps: int | None = _O(None, "--max-steps", help="overrides --epochs"),
    batch_size: int | None = _O(None, "--batch-size", "-b"),
    eval_batch_size: int | None = _O(None, "--eval-batch-size"),
    grad_accum: int | None = _O(None, "--grad-accum"),
    max_length: int | None = _O(None, "--max-length"),
    neftune_noise_alpha: float | None = _O(None, "--neftune-noise-alpha",
                                           help="NEFTune noise on the input embeddings while training"),
    seed: int | None = _O(None, "--seed"),
    precision: str | None = _O(None, "--precision", help="auto | fp32 | bf16 | fp16"),
    load_in_4bit: bool | None = _O(None, "--load-in-4bit/--no-load-in-4bit", help="QLoRA (CUDA)"),
    gradient_checkpointing: bool | None = _O(None, "--gradient-checkpointing/--no-gradient-checkpointing"),
    batching: str | None = _O(None, "--batching", help="packed (default) | grouped | shuffled"),
    group_by_length: bool | None = _O(None, "--group-by-length/--no-group-by-length",
                                      help="older spelling of --batching grouped / shuffled"),
    logging_steps: int | None = _O(None, "--logging-steps"),
    eval_steps: int | None = _O(None, "--eval-steps"),
    save_steps: int | None = _O(None, "--save-steps", help="checkpoint every N steps"),
    save_total_limit: int | None = _O(None, "--save-total-limit"),
    runs_dir: str | None = _O(None, "--runs-dir", help="where run dirs go (default ./runs)"),
    mlflow: bool | None = _O(None, "--mlflow/--no-mlflow", help="log the run to MLflow (default on)"),
    tracking_uri: str | None = _O(None, "--tracking-uri", help="MLflow server (default sqlite in runs dir)"),
    experiment: str | None = _O(None, "--experiment", help="MLflow experiment name"),
    merge: bool | None = _O(None, "--merge/--no-merge", help="also save the merged model (merged/)"),
    resume: str | None = _O(None, "--resume", help="resume RUN (dir or name) from its last checkpoint"),
    quiet: bool = _O(False, "--quiet", "-q", help="no progress bar or logs"),
    as_json: bool = _O(False, "--json", help="print the run summary as JSON"),
) -> None:
    """Fine-tune a base with LoRA / OFT / BOFT on a tsukeku dataset, or continue a run's adapter
    with DPO on preference pairs; records a run dir + MLflow."""
    from tsukeku.training.config import build_config
    from tsukeku.training.job import train

    if resume:
        result = train(resume=resume, quiet=quiet, runs_dir=runs_dir or "runs")
    else:
        overrides = dict(locals())
        for k in ("config", "resume", "quiet", "as_json", "build_config", "train"):
            overrides.pop(k, None)
        cfg = build_config(config, **overrides)
        result = train(cfg, quiet=quiet)
    if not result.info:  # a non-main rank under accelerate/torchrun: the main one reports
        return
    ev = result.evaluation
    if as_json:
        typer.echo(json.dumps({"run_dir": str(result.run_dir), "evaluation": ev}, ensure_ascii=False))
        return
    line = f"run {result.run_dir}"
    if "validation" in ev:
        line += f"  validation 付句 loss {ev['validation']['loss']:.4f}"
        if "validation_base" in ev:
            line += f" (base {ev['validation_base']['loss']:.4f})"
    if "preferences" in ev:
        line += (f"  held-out preference accuracy {ev['preferences']['accuracy_vs_base']:.3f} "
                 f"(SFT {ev['preferences']['accuracy_vs_base_sft']:.3f})")
    line += f"  {ev['train']['tokens_per_s']:.0f} tokens/s"
    typer.echo(line)


@runs_app.command("list")
def runs_list(
    runs_dir: str = _O("runs", "--runs-dir", help="where run dirs are"),
    as_json: bool = _O(False, "--json"),
) -> None:
    """Runs under the runs dir, oldest first."""
    from rich.console import Console
    from rich.table import Table

    from tsukeku.training.runs import list_runs

    runs = list_runs(runs_dir)
    if as_json:
        typer.echo(json.dumps(runs, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"runs in {runs_dir}")
    for col in ("name", "status", "base", "method", "steps", "val loss", "base val loss", "created"):
        table.add_column(col)
    for r in runs:
        s = r.get("summary", {})
        table.add_row(r["name"], r.get("status", "?"), str(r.get("base")), str(r.get("method")),
                      str(r.get("total_steps", "")), _fmt(s.get("validation")),
                      _fmt(s.get("validation_base")), r.get("created", ""))
    Console().print(table)


@runs_app.command("show")
def runs_show(
    run: str = typer.Argument(..., help="run dir or name"),
    runs_dir: str = _O("runs", "--runs-dir"),
    as_json: bool = _O(False, "--json"),
) -> None:
    """Everything recorded about one run."""
    from rich.console import Console
    from rich.table import Table

    from tsukeku.training.runs import find_run, run_details

    info = run_details(find_run(run, runs_dir))
    if as_json:
        typer.echo(json.dumps(info, ensure_ascii=False, indent=2))
        return
    table = Table(title=info["name"], show_header=False)
    for key in ("status", "run_dir", "base", "base_resolved", "method", "target_modules",
                "trainable_params", "total_params", "lr", "precision", "total_steps", "created",
                "finished", "resumed_from", "checkpoints", "error"):
        if info.get(key) not in (None, [], ""):
            table.add_row(key, str(info[key]))
    for k, v in (info.get("evaluation") or {}).items():
        if isinstance(v, dict) and "loss" in v:
            table.add_row(f"{k} loss", f"{v['loss']:.4f} ({v['tokens']} 付句 tokens)")
        elif isinstance(v, float):
            table.add_row(k, f"{v:.4f}")
    train = (info.get("evaluation") or {}).get("train")
    if train:
        table.add_row("training", f"{train['steps']} steps, {train['tokens']} tokens, "
                                  f"{train['tokens_per_s']} tokens/s")
    if info.get("mlflow"):
        table.add_row("mlflow", f"{info['mlflow']['tracking_uri']} run {info['mlflow']['run_id']}")
    Console().print(table)


def merge_cmd(
    run: str = typer.Argument(..., help="run dir or name"),
    out: Path = _O(..., "--out", "-o", help="directory for the merged model"),
    runs_dir: str = _O("runs", "--runs-dir"),
    dtype: str = _O("fp32", "--dtype", help="fp32 | bf16 | fp16"),
    overwrite: bool = _O(False, "--overwrite"),
) -> None:
    """Merge a run's adapter into its base (HF format, with tokenizer and prompt.json)."""
    from tsukeku.training.merge import merge_run
    from tsukeku.training.runs import find_run

    path = merge_run(find_run(run, runs_dir), out, dtype=dtype, overwrite=overwrite)
    typer.echo(str(path))


def _fmt(x) -> str:
    return f"{x:.4f}" if isinstance(x, float) else "-"


def register(app: typer.Typer) -> None:
    app.command("train")(train_cmd)
    app.command("merge")(merge_cmd)
    app.add_typer(runs_app, name="runs")
