#!/usr/bin/env python3
"""Deploy the tsukeku image as a SageMaker real-time endpoint with auto scaling.

    python deploy/sagemaker_deploy.py --name tsukeku \\
        --image 123456789012.dkr.ecr.us-east-1.amazonaws.com/tsukeku:latest \\
        --model-data s3://my-bucket/tsukeku/model.tar.gz \\
        --role arn:aws:iam::123456789012:role/SageMakerExecution \\
        --instance-type ml.g5.xlarge --min-instances 1 --max-instances 4 \\
        --target-invocations 40

Steps, through boto3: create the model (image + model.tar.gz + environment), an endpoint
configuration (one variant), the endpoint (or an update of an existing one with --update), wait
until it is InService, then register the variant with Application Auto Scaling and put a
target-tracking policy on `SageMakerVariantInvocationsPerInstance` (invocations per instance
per minute). `--dry-run` prints the requests instead of sending them.

The requests are built by pure functions (`plan(args, stamp)`), so that they can be checked
without AWS; `deploy(plan, ...)` sends them.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass
from typing import Any

VARIANT = "AllTraffic"
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_ENV_KEY = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,1023}$")


def _name(value: str) -> str:
    if not _NAME.match(value):
        raise argparse.ArgumentTypeError(
            f"{value!r}: SageMaker names are 1-63 letters, digits and hyphens, starting with a "
            "letter or digit"
        )
    if len(value) > 47:  # room for the "-YYYYmmdd-HHMMSS" suffix of model and config names
        raise argparse.ArgumentTypeError(f"{value!r}: use at most 47 characters")
    return value


def _env(value: str) -> tuple[str, str]:
    key, sep, val = value.partition("=")
    if not sep or not _ENV_KEY.match(key):
        raise argparse.ArgumentTypeError(f"{value!r}: write KEY=VALUE")
    return key, val


def _positive(kind: type) -> Any:
    def parse(value: str) -> Any:
        number = kind(value)
        if number <= 0:
            raise argparse.ArgumentTypeError(f"{value!r} must be positive")
        return number

    return parse


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sagemaker_deploy.py",
        description="Deploy tsukeku as a SageMaker real-time endpoint with auto scaling.",
    )
    p.add_argument("--name", type=_name, required=True, help="endpoint name (also the prefix "
                   "of the model and endpoint-configuration names)")
    p.add_argument("--image", required=True, help="ECR image URI built from the Dockerfile")
    p.add_argument("--model-data", required=True,
                   help="s3://…/model.tar.gz: unpacked into /opt/ml/model (a models.yaml with "
                        "its adapters, or one model/adapter directory)")
    p.add_argument("--role", required=True, help="execution role ARN SageMaker assumes")
    p.add_argument("--instance-type", default="ml.g5.xlarge")
    p.add_argument("--initial-instances", type=_positive(int), default=1)
    p.add_argument("--min-instances", type=_positive(int), default=1)
    p.add_argument("--max-instances", type=_positive(int), default=4)
    p.add_argument("--target-invocations", type=_positive(float), default=40.0,
                   help="target invocations per instance per minute for auto scaling")
    p.add_argument("--scale-in-cooldown", type=int, default=300, help="seconds")
    p.add_argument("--scale-out-cooldown", type=int, default=60, help="seconds")
    p.add_argument("--env", type=_env, action="append", default=[], metavar="KEY=VALUE",
                   help="container environment, e.g. TSUKEKU_MAX_BATCH=16 (repeatable)")
    p.add_argument("--startup-timeout", type=_positive(int), default=900,
                   help="seconds SageMaker waits for /ping to answer 200")
    p.add_argument("--region", default=None)
    p.add_argument("--update", action="store_true",
                   help="update an existing endpoint to the new configuration")
    p.add_argument("--no-wait", action="store_true",
                   help="do not wait for InService (auto scaling is then not set up)")
    p.add_argument("--dry-run", action="store_true", help="print the requests, send nothing")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = parser()
    args = p.parse_args(argv)
    if args.min_instances > args.max_instances:
        p.error("--min-instances must not exceed --max-instances")
    if not args.min_instances <= args.initial_instances <= args.max_instances:
        p.error("--initial-instances must lie between --min-instances and --max-instances")
    if not args.model_data.startswith("s3://"):
        p.error("--model-data must be an s3:// URI of a model.tar.gz")
    if args.scale_in_cooldown < 0 or args.scale_out_cooldown < 0:
        p.error("cooldowns are seconds, 0 or more")
    return args


@dataclass
class Plan:
    model: dict[str, Any]
    endpoint_config: dict[str, Any]
    endpoint: dict[str, Any]
    scalable_target: dict[str, Any]
    scaling_policy: dict[str, Any]
    update: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "create_model": self.model,
            "create_endpoint_config": self.endpoint_config,
            ("update_endpoint" if self.update else "create_endpoint"): self.endpoint,
            "register_scalable_target": self.scalable_target,
            "put_scaling_policy": self.scaling_policy,
        }


def model_request(args: argparse.Namespace, model_name: str) -> dict[str, Any]:
    environment = {"SAGEMAKER_MODEL_SERVER_TIMEOUT": "60", **dict(args.env)}
    return {
        "ModelName": model_name,
        "ExecutionRoleArn": args.role,
        "PrimaryContainer": {
            "Image": args.image,
            "ModelDataUrl": args.model_data,
            "Mode": "SingleModel",
            "Environment": environment,
        },
        "Tags": [{"Key": "project", "Value": "tsukeku"}],
    }


def endpoint_config_request(
    args: argparse.Namespace, config_name: str, model_name: str
) -> dict[str, Any]:
    return {
        "EndpointConfigName": config_name,
        "ProductionVariants": [{
            "VariantName": VARIANT,
            "ModelName": model_name,
            "InstanceType": args.instance_type,
            "InitialInstanceCount": args.initial_instances,
            "InitialVariantWeight": 1.0,
            "ContainerStartupHealthCheckTimeoutInSeconds": args.startup_timeout,
            "ModelDataDownloadTimeoutInSeconds": args.startup_timeout,
        }],
        "Tags": [{"Key": "project", "Value": "tsukeku"}],
    }


def endpoint_request(args: argparse.Namespace, config_name: str) -> dict[str, Any]:
    request = {"EndpointName": args.name, "EndpointConfigName": config_name}
    if not args.update:
        request["Tags"] = [{"Key": "project", "Value": "tsukeku"}]
    return request


def resource_id(endpoint: str, variant: str = VARIANT) -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


def scalable_target_request(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "ServiceNamespace": "sagemaker",
        "ResourceId": resource_id(args.name),
        "ScalableDimension": SCALABLE_DIMENSION,
        "MinCapacity": args.min_instances,
        "MaxCapacity": args.max_instances,
    }


def scaling_policy_request(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "PolicyName": f"{args.name}-invocations-per-instance",
        "ServiceNamespace": "sagemaker",
        "ResourceId": resource_id(args.name),
        "ScalableDimension": SCALABLE_DIMENSION,
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": args.target_invocations,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
            },
            "ScaleInCooldown": args.scale_in_cooldown,
            "ScaleOutCooldown": args.scale_out_cooldown,
        },
    }


def plan(args: argparse.Namespace, stamp: str) -> Plan:
    """Every request the deployment sends; `stamp` (e.g. 20250101-120000) makes the model and
    configuration names unique, so that an update never overwrites what serves traffic."""
    model_name = f"{args.name}-{stamp}"
    config_name = f"{args.name}-{stamp}"
    return Plan(
        model=model_request(args, model_name),
        endpoint_config=endpoint_config_request(args, config_name, model_name),
        endpoint=endpoint_request(args, config_name),
        scalable_target=scalable_target_request(args),
        scaling_policy=scaling_policy_request(args),
        update=args.update,
    )


def deploy(p: Plan, sagemaker: Any, autoscaling: Any, *, wait: bool = True,
           log: Any = print) -> dict[str, Any]:
    """Sends the plan through boto3 clients (`sagemaker`, `application-autoscaling`)."""
    out: dict[str, Any] = {}
    out["model"] = sagemaker.create_model(**p.model)["ModelArn"]
    log(f"model {p.model['ModelName']}")
    out["endpoint_config"] = sagemaker.create_endpoint_config(**p.endpoint_config)[
        "EndpointConfigArn"]
    log(f"endpoint configuration {p.endpoint_config['EndpointConfigName']}")
    if p.update:
        out["endpoint"] = sagemaker.update_endpoint(**p.endpoint)["EndpointArn"]
    else:
        out["endpoint"] = sagemaker.create_endpoint(**p.endpoint)["EndpointArn"]
    log(f"endpoint {p.endpoint['EndpointName']} ({'updating' if p.update else 'creating'})")
    if not wait:
        log("not waiting: set up auto scaling once the endpoint is InService (run again "
            "with --update)")
        return out
    sagemaker.get_waiter("endpoint_in_service").wait(
        EndpointName=p.endpoint["EndpointName"], WaiterConfig={"Delay": 30, "MaxAttempts": 120}
    )
    log("endpoint InService")
    autoscaling.register_scalable_target(**p.scalable_target)
    out["scaling_policy"] = autoscaling.put_scaling_policy(**p.scaling_policy)["PolicyARN"]
    log(f"auto scaling {p.scalable_target['MinCapacity']}–{p.scalable_target['MaxCapacity']} "
        f"instances, target {p.scaling_policy['TargetTrackingScalingPolicyConfiguration']['TargetValue']:g} "
        "invocations per instance per minute")
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    the_plan = plan(args, time.strftime("%Y%m%d-%H%M%S", time.gmtime()))
    if args.dry_run:
        print(json.dumps(the_plan.as_dict(), indent=2, ensure_ascii=False))
        return 0
    import boto3

    session = boto3.Session(region_name=args.region)
    result = deploy(the_plan, session.client("sagemaker"),
                    session.client("application-autoscaling"), wait=not args.no_wait)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
