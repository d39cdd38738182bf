#!/usr/bin/env python3
"""Launch `tsukeku train` as a SageMaker training job (Hugging Face estimator).

    python deploy/sagemaker_train.py --role arn:aws:iam::123456789012:role/SageMakerRole \\
        --train s3://my-bucket/tsukeku/data --base rinna/japanese-gpt-neox-3.6b \\
        --instance-type ml.g5.2xlarge --hp epochs=3 --hp lr=2e-4 --spot

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
                "pydantic>=2.7", "pyyaml>=6", "filelock>=3.12", "fugashi>=1.3", "unidic-lite>=1.0.8",
                "jaconv>=0.3", "safetensors>=0.4"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--role", required=True, help="IAM role ARN SageMaker runs the job as")
    p.add_argument("--train", required=True, help="S3 URI of the dataset dir (tsukeku data build)")
    p.add_argument("--base", default="rinna/japanese-gpt-neox-3.6b", help="hub id of the base")
    p.add_argument("--base-s3", default=None, help="S3 URI of a base model dir (channel 'base')")
    p.add_argument("--method", default="lora", choices=["lora", "oft", "boft"])
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
    return p.parse_args(argv)


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def hyperparameters(args: argparse.Namespace) -> dict[str, Any]:
    hp: dict[str, Any] = {"base": args.base, "method": args.method}
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
    return ch


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


def stage_source(dest: Path) -> Path:
    """The tsukeku package, a top-level entry script and requirements.txt: what SageMaker
    uploads as source_dir and runs inside the container."""
    shutil.copytree(REPO / "tsukeku", dest / "tsukeku",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (dest / ENTRY).write_text(
        "import sys\nfrom tsukeku.training.sagemaker_entry import main\nsys.exit(main())\n")
    (dest / "requirements.txt").write_text("\n".join(REQUIREMENTS) + "\n")
    return dest


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        from sagemaker.huggingface import HuggingFace
    except ImportError:
        print("this launcher needs the SageMaker Python SDK: pip install sagemaker", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="tsukeku-sm-") as tmp:
        src = stage_source(Path(tmp))
        estimator = HuggingFace(**estimator_kwargs(args, str(src)))
        estimator.fit(channels(args), wait=not args.no_wait)
    print(f"job: {estimator.latest_training_job.name}")
    if not args.no_wait:
        print(f"model: {estimator.model_data}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
