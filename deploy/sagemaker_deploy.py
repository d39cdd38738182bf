#!/usr/bin/env python3
"""Deploy the tsukeku image as a SageMaker endpoint, with auto scaling, alarms and data capture.

    python deploy/sagemaker_deploy.py --name tsukeku \\
        --image 123456789012.dkr.ecr.us-east-1.amazonaws.com/tsukeku:latest \\
        --model-data s3://my-bucket/tsukeku/model.tar.gz \\
        --role arn:aws:iam::123456789012:role/SageMakerExecution \\
        --instance-type ml.g5.xlarge --min-instances 1 --max-instances 4 \\
        --target-invocations 40 --alarm-sns-topic arn:aws:sns:us-east-1:123456789012:ops

Creating: the model (image + model.tar.gz + environment), an endpoint configuration (one
variant: instances, `--serverless` or asynchronous with `--async-output-s3-uri`; optional data
capture with `--capture-s3-uri`), the endpoint, CloudWatch alarms on its 5xx rate and p95
latency; once it is InService, Application Auto Scaling (instances: invocations per instance;
asynchronous: queued requests per instance, down to zero with `--min-instances 0`).

Updating (`--update`): a new model and configuration (names carry a UTC stamp, so the one
serving is never overwritten), then UpdateEndpoint, which brings up the new fleet before the
old one goes (no downtime): blue/green traffic shifting (`--traffic canary|linear`) with
automatic rollback when the alarms fire. After the wait the script checks that the endpoint
runs the new configuration, and says so when SageMaker rolled it back.

`--dry-run` prints the requests instead of sending them. The requests are built by pure
functions (`plan(args, stamp)`, and sagemaker_ops.py next to this file), so that they can be
checked without AWS; `deploy(plan, ...)` and `update(plan, ...)` send them.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# sibling module, also when this file is loaded by path (the tests do)
sys.path.insert(0, str(Path(__file__).resolve().parent))
import sagemaker_ops as ops  # noqa: E402

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


def _non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be 0 or more")
    return number


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
    # defaults in ops.INSTANCE_OPTIONS: None here tells "not given" (refused with --serverless)
    p.add_argument("--instance-type", default=None, help="default ml.g5.xlarge")
    p.add_argument("--initial-instances", type=_positive(int), default=None, help="default 1")
    p.add_argument("--min-instances", type=_non_negative, default=None,
                   help="default 1; 0 lets an asynchronous endpoint scale to zero")
    p.add_argument("--max-instances", type=_positive(int), default=None, help="default 4")
    p.add_argument("--target-invocations", type=_positive(float), default=None,
                   help="target invocations per instance per minute for auto scaling "
                        "(default 40)")
    p.add_argument("--scale-in-cooldown", type=int, default=None, help="seconds (default 300)")
    p.add_argument("--scale-out-cooldown", type=int, default=None, help="seconds (default 60)")
    p.add_argument("--env", type=_env, action="append", default=[], metavar="KEY=VALUE",
                   help="container environment, e.g. TSUKEKU_MAX_BATCH=16 (repeatable)")
    p.add_argument("--startup-timeout", type=_positive(int), default=900,
                   help="seconds SageMaker waits for /ping to answer 200")
    p.add_argument("--region", default=None)
    p.add_argument("--update", action="store_true",
                   help="update an existing endpoint to the new configuration (no downtime)")
    p.add_argument("--no-wait", action="store_true",
                   help="do not wait for InService (auto scaling is then not set up)")
    p.add_argument("--dry-run", action="store_true", help="print the requests, send nothing")
    ops.add_arguments(p)
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = parser()
    args = p.parse_args(argv)
    if not args.model_data.startswith("s3://"):
        p.error("--model-data must be an s3:// URI of a model.tar.gz")
    ops.check_arguments(p, args)  # also fills the instance defaults unless --serverless
    if args.kind == ops.SERVERLESS:
        return args
    if args.min_instances > args.max_instances:
        p.error("--min-instances must not exceed --max-instances")
    if not max(args.min_instances, 1) <= args.initial_instances <= args.max_instances:
        p.error("--initial-instances must lie between --min-instances and --max-instances")
    if args.scale_in_cooldown < 0 or args.scale_out_cooldown < 0:
        p.error("cooldowns are seconds, 0 or more")
    return args


class DeployError(Exception):
    """Something AWS reported that the user has to act on (printed without a traceback)."""


@dataclass
class Plan:
    model: dict[str, Any]
    endpoint_config: dict[str, Any]
    endpoint: dict[str, Any]
    scalable_target: dict[str, Any] | None  # None: serverless (no instances to scale)
    scaling_policy: dict[str, Any] | None
    alarms: list[dict[str, Any]] = field(default_factory=list)
    update: bool = False
    kind: str = ops.REALTIME
    # async endpoints scaling from zero: a step policy and the alarm that triggers it
    zero_policy: dict[str, Any] | None = None
    zero_alarm: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        out = {
            "create_model": self.model,
            "create_endpoint_config": self.endpoint_config,
            "put_metric_alarm": self.alarms,
            ("update_endpoint" if self.update else "create_endpoint"): self.endpoint,
            "register_scalable_target": self.scalable_target,
            "put_scaling_policy": [x for x in (self.scaling_policy, self.zero_policy) if x],
        }
        if self.zero_alarm:
            out["put_metric_alarm (scale from zero; actions: the step policy)"] = self.zero_alarm
        return out


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


def variant_request(args: argparse.Namespace, model_name: str) -> dict[str, Any]:
    variant: dict[str, Any] = {"VariantName": VARIANT, "ModelName": model_name,
                               "InitialVariantWeight": 1.0}
    if args.kind == ops.SERVERLESS:
        variant["ServerlessConfig"] = ops.serverless_config(args)
        return variant
    variant.update({
        "InstanceType": args.instance_type,
        "InitialInstanceCount": args.initial_instances,
        "ContainerStartupHealthCheckTimeoutInSeconds": args.startup_timeout,
        "ModelDataDownloadTimeoutInSeconds": args.startup_timeout,
    })
    return variant


def endpoint_config_request(
    args: argparse.Namespace, config_name: str, model_name: str
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "EndpointConfigName": config_name,
        "ProductionVariants": [variant_request(args, model_name)],
        "Tags": [{"Key": "project", "Value": "tsukeku"}],
    }
    capture = ops.data_capture_config(args)
    if capture:
        request["DataCaptureConfig"] = capture
    if args.kind == ops.ASYNC:
        request["AsyncInferenceConfig"] = ops.async_inference_config(args)
    return request


def endpoint_request(args: argparse.Namespace, config_name: str) -> dict[str, Any]:
    request: dict[str, Any] = {"EndpointName": args.name, "EndpointConfigName": config_name}
    if not args.update:
        request["Tags"] = [{"Key": "project", "Value": "tsukeku"}]
        return request
    deployment = ops.deployment_config(args)
    if deployment:
        request["DeploymentConfig"] = deployment
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
    if args.kind == ops.ASYNC:
        return ops.backlog_scaling_policy(args, resource_id(args.name), SCALABLE_DIMENSION)
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
    scaled = args.kind != ops.SERVERLESS
    from_zero = args.kind == ops.ASYNC and args.min_instances == 0
    return Plan(
        model=model_request(args, model_name),
        endpoint_config=endpoint_config_request(args, config_name, model_name),
        endpoint=endpoint_request(args, config_name),
        scalable_target=scalable_target_request(args) if scaled else None,
        scaling_policy=scaling_policy_request(args) if scaled else None,
        alarms=ops.alarm_requests(args, VARIANT),
        update=args.update,
        kind=args.kind,
        zero_policy=(ops.scale_from_zero_policy(args, resource_id(args.name), SCALABLE_DIMENSION)
                     if from_zero else None),
        zero_alarm=ops.scale_from_zero_alarm(args) if from_zero else None,
    )


def _create_resources(p: Plan, sagemaker: Any, out: dict[str, Any], log: Any) -> None:
    out["model"] = sagemaker.create_model(**p.model)["ModelArn"]
    log(f"model {p.model['ModelName']}")
    out["endpoint_config"] = sagemaker.create_endpoint_config(**p.endpoint_config)[
        "EndpointConfigArn"]
    log(f"endpoint configuration {p.endpoint_config['EndpointConfigName']} ({p.kind})")


def _put_alarms(p: Plan, cloudwatch: Any, out: dict[str, Any], log: Any) -> None:
    if not p.alarms:
        return
    if cloudwatch is None:
        raise ValueError("the plan has alarms: pass a CloudWatch client")
    for alarm in p.alarms:
        cloudwatch.put_metric_alarm(**alarm)
    out["alarms"] = [alarm["AlarmName"] for alarm in p.alarms]
    log(f"alarms {', '.join(out['alarms'])}")


def _wait(p: Plan, sagemaker: Any) -> None:
    from botocore.exceptions import WaiterError

    name = p.endpoint["EndpointName"]
    try:
        sagemaker.get_waiter("endpoint_in_service").wait(
            EndpointName=name, WaiterConfig={"Delay": 30, "MaxAttempts": 120})
    except WaiterError as error:
        reason = (error.last_response or {}).get("FailureReason") or error
        raise DeployError(f"endpoint {name} did not become InService: {reason} (see its "
                          f"CloudWatch logs, /aws/sagemaker/Endpoints/{name})") from error


def _scale(p: Plan, autoscaling: Any, cloudwatch: Any, out: dict[str, Any], log: Any) -> None:
    if p.scalable_target is None or p.scaling_policy is None:
        return
    autoscaling.register_scalable_target(**p.scalable_target)
    out["scaling_policy"] = autoscaling.put_scaling_policy(**p.scaling_policy)["PolicyARN"]
    tracking = p.scaling_policy["TargetTrackingScalingPolicyConfiguration"]
    what = ("queued requests per instance" if p.kind == ops.ASYNC
            else "invocations per instance per minute")
    log(f"auto scaling {p.scalable_target['MinCapacity']}–{p.scalable_target['MaxCapacity']} "
        f"instances, target {tracking['TargetValue']:g} {what}")
    if p.zero_policy and p.zero_alarm:
        arn = autoscaling.put_scaling_policy(**p.zero_policy)["PolicyARN"]
        if cloudwatch is None:
            raise ValueError("scaling from zero needs a CloudWatch client for its alarm")
        cloudwatch.put_metric_alarm(**p.zero_alarm, AlarmActions=[arn])
        out["scale_from_zero_policy"] = arn
        log("scales from zero when requests wait without an instance")


def deploy(p: Plan, sagemaker: Any, autoscaling: Any, cloudwatch: Any = None, *,
           wait: bool = True, log: Any = print) -> dict[str, Any]:
    """Sends the plan through boto3 clients (`sagemaker`, `application-autoscaling`,
    `cloudwatch`); an update plan goes to `update`."""
    if p.update:
        return update(p, sagemaker, autoscaling, cloudwatch, wait=wait, log=log)
    out: dict[str, Any] = {}
    _create_resources(p, sagemaker, out, log)
    out["endpoint"] = sagemaker.create_endpoint(**p.endpoint)["EndpointArn"]
    log(f"endpoint {p.endpoint['EndpointName']} (creating)")
    _put_alarms(p, cloudwatch, out, log)
    if not wait:
        log("not waiting: set up auto scaling once the endpoint is InService (run again "
            "with --update)")
        return out
    _wait(p, sagemaker)
    log("endpoint InService")
    _scale(p, autoscaling, cloudwatch, out, log)
    return out


def _kind_of(config: dict[str, Any]) -> str:
    variant = config["ProductionVariants"][0]
    if "ServerlessConfig" in variant:
        return ops.SERVERLESS
    return ops.ASYNC if config.get("AsyncInferenceConfig") else ops.REALTIME


def update(p: Plan, sagemaker: Any, autoscaling: Any, cloudwatch: Any = None, *,
           wait: bool = True, log: Any = print) -> dict[str, Any]:
    """Rolling update of a live endpoint to the plan's new configuration, without downtime.

    SageMaker starts the new fleet, shifts traffic to it (per the plan's DeploymentConfig)
    and only then removes the old one. Auto scaling blocks an update that changes the instance
    type of a scaled variant, so the variant is deregistered first in that case (registering
    it again after the update); otherwise the current instance count is kept
    (RetainAllVariantProperties) while the new data-capture settings apply.
    """
    name = p.endpoint["EndpointName"]
    current = sagemaker.describe_endpoint(EndpointName=name)
    if current["EndpointStatus"] != "InService":
        raise DeployError(f"endpoint {name} is {current['EndpointStatus']}: update it once it "
                          "is InService")
    old = sagemaker.describe_endpoint_config(EndpointConfigName=current["EndpointConfigName"])
    if _kind_of(old) != p.kind:
        raise DeployError(f"endpoint {name} is {_kind_of(old)}, the new configuration is "
                          f"{p.kind}: deploy it as a new endpoint (another --name), move the "
                          "clients, then delete the old one")
    out: dict[str, Any] = {"previous_endpoint_config": current["EndpointConfigName"]}
    request = dict(p.endpoint)
    paused = False
    if p.scalable_target is not None:
        registered = autoscaling.describe_scalable_targets(
            ServiceNamespace="sagemaker", ResourceIds=[p.scalable_target["ResourceId"]],
            ScalableDimension=SCALABLE_DIMENSION)["ScalableTargets"]
        new_type = p.endpoint_config["ProductionVariants"][0]["InstanceType"]
        old_type = old["ProductionVariants"][0].get("InstanceType")
        if registered and new_type != old_type:
            autoscaling.deregister_scalable_target(
                ServiceNamespace="sagemaker", ResourceId=p.scalable_target["ResourceId"],
                ScalableDimension=SCALABLE_DIMENSION)
            paused = True
            log(f"auto scaling paused: instance type {old_type} → {new_type}")
        elif registered:
            request["RetainAllVariantProperties"] = True
            request["ExcludeRetainedVariantProperties"] = [
                {"VariantPropertyType": "DataCaptureConfig"}]
    _create_resources(p, sagemaker, out, log)
    _put_alarms(p, cloudwatch, out, log)  # before the update: its rollback watches them
    out["endpoint"] = sagemaker.update_endpoint(**request)["EndpointArn"]
    routing = request.get("DeploymentConfig", {}).get("BlueGreenUpdatePolicy", {}).get(
        "TrafficRoutingConfiguration", {}).get("Type", "SageMaker's default")
    log(f"endpoint {name} updating (blue/green, {routing} traffic shift)")
    if not wait:
        if paused:
            log("not waiting: auto scaling stays off until registered again (Application "
                "Auto Scaling register-scalable-target and put-scaling-policy, as --dry-run "
                "prints them)")
        return out
    _wait(p, sagemaker)
    after = sagemaker.describe_endpoint(EndpointName=name)
    if after["EndpointConfigName"] != p.endpoint["EndpointConfigName"]:
        reason = after.get("FailureReason") or "an alarm fired or the new fleet failed"
        raise DeployError(f"endpoint {name} was rolled back to {after['EndpointConfigName']} "
                          f"({reason}); it still serves the previous model")
    log(f"endpoint InService on {p.endpoint['EndpointConfigName']}")
    _scale(p, autoscaling, cloudwatch, out, log)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    the_plan = plan(args, time.strftime("%Y%m%d-%H%M%S", time.gmtime()))
    if args.dry_run:
        print(json.dumps(the_plan.as_dict(), indent=2, ensure_ascii=False))
        return 0
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        session = boto3.Session(region_name=args.region)
        result = deploy(the_plan, session.client("sagemaker"),
                        session.client("application-autoscaling"),
                        session.client("cloudwatch"), wait=not args.no_wait)
    except (DeployError, ClientError, BotoCoreError) as error:
        # AWS's own message says what is wrong (no region, no credentials, a refused request)
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
