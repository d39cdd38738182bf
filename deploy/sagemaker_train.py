#!/usr/bin/env python3
"""Launch `tsukeku train` as a SageMaker training job (Hugging Face estimator).

    python deploy/sagemaker_train.py --role arn:aws:iam::123456789012:role/SageMakerRole \\
        --train s3://my-bucket/tsukeku/data --base rinna/japanese-gpt-neox-3.6b \\
        --instance-type ml.g5.2xlarge --hp epochs=3 --hp lr=2e-4 --spot

Preference tuning (`tsukeku train --method dpo --adapter RUN --preferences FILE`) continues an
SFT job's adapter:

    python deploy/sagemaker_train.py --role ... --train s3://my-bucket/tsukeku/data --method dpo \
        --adapter s3://my-bucket/jobs/tsukeku-train-.../output/model.tar.gz \
        --preferences s3://my-bucket/tsukeku/pairs.jsonl --beta 0.1 --loss-type sigmoid

The dataset channel is a directory written by `tsukeku data build` and uploaded to S3. The job
runs tsukeku.training.sagemaker_entry, which trains, writes the adapter + merged model to
SM_MODEL_DIR (model.tar.gz) and keeps the run under /opt/ml/checkpoints, synced to S3, so a
spot interruption resumes from the last checkpoint.

Needs `pip install sagemaker` and AWS credentials; not run in CI. Argument parsing and the
estimator arguments are importable without the SDK (tests use them).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ENTRY = "sagemaker_entry.py"
# The HF training containers ship torch, transformers, peft and accelerate; the rest of what
# tsukeku imports while training comes from here.
REQUIREMENTS = ["peft>=0.13", "accelerate>=1.0", "mlflow-skinny>=2.16", "typer>=0.12", "rich>=13",
                "pydantic>=2.7", "pydantic-settings>=2.3", "pyyaml>=6", "filelock>=3.12",
                "fugashi>=1.3", "unidic-lite>=1.0.8", "jaconv>=0.3", "safetensors>=0.4"]
# Only a DPO job imports TRL (its DPOTrainer); the lower bound is pyproject.toml's.
DPO_REQUIREMENTS = ["trl>=1.16"]
DEFAULT_BASE = "rinna/japanese-gpt-neox-3.6b"
LOSS_TYPES = ["sigmoid", "ipo", "hinge", "robust"]  # DpoOptions.loss_type


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--role", required=True, help="IAM role ARN SageMaker runs the job as")
    p.add_argument("--train", required=True, help="S3 URI of the dataset dir (tsukeku data build)")
    p.add_argument("--base", default=None,
                   help=f"hub id of the base (default {DEFAULT_BASE}; dpo: the SFT run's)")
    p.add_argument("--base-s3", default=None, help="S3 URI of a base model dir (channel 'base')")
    p.add_argument("--method", default="lora", choices=["lora", "oft", "boft", "dpo"])
    dpo = p.add_argument_group("dpo", "preference tuning of an SFT job's adapter (--method dpo)")
    dpo.add_argument("--adapter", default=None,
                     help="S3 URI of the SFT job's model.tar.gz or model directory (channel 'adapter')")
    dpo.add_argument("--preferences", default=None,
                     help="S3 URI of the preference pairs (JSON Lines; channel 'preferences')")
    dpo.add_argument("--beta", type=float, default=None, help="DPO β (default 0.1)")
    dpo.add_argument("--loss-type", default=None, choices=LOSS_TYPES)
    dpo.add_argument("--sft-weight", type=float, default=None,
                     help="weight of an added NLL loss on the chosen 付句 (0 = plain DPO)")
    p.add_argument("--instance-type", default="ml.g5.2xlarge")
    p.add_argument("--instance-count", type=int, default=1)
    p.add_argument("--distributed", action="store_true", help="torchrun over all GPUs (DDP)")
    p.add_argument("--spot", action="store_true", help="managed spot training (resumes itself)")
    p.add_argument("--max-run", type=int, default=6 * 3600, help="seconds")
    p.add_argument("--output", default=None, help="S3 URI for model.tar.gz (default: the session bucket)")
    p.add_argument("--job-name", default="tsukeku-train")
    p.add_argument("--checkpoints", default=None,
                   help="S3 URI synced with /opt/ml/checkpoints (default: beside --train)")
    p.add_argument("--transformers-version", default="4.49")
    p.add_argument("--pytorch-version", default="2.5")
    p.add_argument("--py-version", default="py311")
    p.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE",
                   help="any `tsukeku train` option, e.g. --hp epochs=3 --hp rank=16")
    p.add_argument("--no-wait", action="store_true", help="return once the job is submitted")
    args = p.parse_args(argv)
    dpo_given = [f"--{name.replace('_', '-')}" for name in ("adapter", "preferences", "beta",
                                                            "loss_type", "sft_weight")
                 if getattr(args, name) is not None]
    if args.method == "dpo":
        if args.adapter is None or args.preferences is None:
            p.error("--method dpo continues an SFT adapter on preference pairs: give --adapter "
                    "(S3 URI of the SFT job's model.tar.gz) and --preferences (S3 URI of the pairs)")
    elif dpo_given:
        p.error(f"{', '.join(dpo_given)} only apply to --method dpo")
    return args


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def hyperparameters(args: argparse.Namespace) -> dict[str, Any]:
    hp: dict[str, Any] = {"method": args.method}
    # A DPO job trains on its SFT run's base, so a base is sent only when asked for
    base = args.base or (None if args.method == "dpo" else DEFAULT_BASE)
    if base is not None:
        hp["base"] = base
    if args.method == "dpo":
        for name in ("beta", "loss_type", "sft_weight"):
            if getattr(args, name) is not None:
                hp[name] = getattr(args, name)
        if args.preferences.endswith(".jsonl"):
            # the entry point then looks this name up in its channel, whatever else the
            # S3 prefix matched
            hp["preferences"] = args.preferences.rsplit("/", 1)[-1]
    for item in args.hp:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--hp takes KEY=VALUE, got {item!r}")
        hp[key.strip().replace("-", "_")] = _value(value.strip())
    return hp


def channels(args: argparse.Namespace) -> dict[str, str]:
    ch = {"train": args.train}
    if args.base_s3:
        ch["base"] = args.base_s3
    if args.method == "dpo":
        ch["adapter"] = args.adapter
        ch["preferences"] = args.preferences
    return ch


def requirements(args: argparse.Namespace) -> list[str]:
    return REQUIREMENTS + (DPO_REQUIREMENTS if args.method == "dpo" else [])


def estimator_kwargs(args: argparse.Namespace, source_dir: str = "<staged source>") -> dict[str, Any]:
    kw: dict[str, Any] = {
        "entry_point": ENTRY,
        "source_dir": source_dir,
        "role": args.role,
        "instance_type": args.instance_type,
        "instance_count": args.instance_count,
        "transformers_version": args.transformers_version,
        "pytorch_version": args.pytorch_version,
        "py_version": args.py_version,
        "hyperparameters": hyperparameters(args),
        "base_job_name": args.job_name,
        "max_run": args.max_run,
        "use_spot_instances": args.spot,
        "checkpoint_s3_uri": args.checkpoints or _sibling(args.train, f"checkpoints/{args.job_name}"),
        "checkpoint_local_path": "/opt/ml/checkpoints",
        "disable_profiler": True,
    }
    if args.spot:
        kw["max_wait"] = args.max_run * 2
    if args.output:
        kw["output_path"] = args.output
    if args.distributed:
        kw["distribution"] = {"torch_distributed": {"enabled": True}}
    return kw


def _sibling(s3_uri: str, name: str) -> str:
    """s3://bucket/prefix/data → s3://bucket/prefix/<name>"""
    parent = s3_uri.rstrip("/").rsplit("/", 1)[0]
    return f"{parent}/{name}"


def stage_source(dest: Path, reqs: list[str] = REQUIREMENTS) -> Path:
    """The tsukeku package, a top-level entry script and requirements.txt: what SageMaker
    uploads as source_dir and runs inside the container."""
    shutil.copytree(REPO / "tsukeku", dest / "tsukeku",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (dest / ENTRY).write_text(
        "import sys\nfrom tsukeku.training.sagemaker_entry import main\nsys.exit(main())\n")
    (dest / "requirements.txt").write_text("\n".join(reqs) + "\n")
    return dest


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        from sagemaker.huggingface import HuggingFace
    except ImportError:
        print("this launcher needs the SageMaker Python SDK: pip install sagemaker", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="tsukeku-sm-") as tmp:
        src = stage_source(Path(tmp), requirements(args))
        estimator = HuggingFace(**estimator_kwargs(args, str(src)))
        estimator.fit(channels(args), wait=not args.no_wait)
    print(f"job: {estimator.latest_training_job.name}")
    if not args.no_wait:
        print(f"model: {estimator.model_data}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
