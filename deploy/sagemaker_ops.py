"""Operations for the tsukeku endpoint: data capture, CloudWatch alarms, the serverless and
asynchronous variants, and the deployment configuration of a blue/green update.

Pure request builders over the parsed arguments of `sagemaker_deploy.py` (which sends them);
parameter names follow the SageMaker, CloudWatch and Application Auto Scaling APIs, and the
tests check every request against botocore's own service models.
"""

from __future__ import annotations

import argparse
from typing import Any

NAMESPACE = "AWS/SageMaker"
REALTIME, SERVERLESS, ASYNC = "realtime", "serverless", "async"
SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)  # the sizes SageMaker accepts
_CAPTURE_MODES = {"input": ["Input"], "output": ["Output"], "both": ["Input", "Output"]}
_TRAFFIC = {"all-at-once": "ALL_AT_ONCE", "canary": "CANARY", "linear": "LINEAR"}
# Instance options that mean nothing without instances; set explicitly with --serverless they
# are refused instead of silently ignored.
INSTANCE_OPTIONS = {
    "instance_type": "ml.g5.xlarge", "initial_instances": 1, "min_instances": 1,
    "max_instances": 4, "target_invocations": 40.0, "scale_in_cooldown": 300,
    "scale_out_cooldown": 60,
}


def _s3(value: str) -> str:
    if not value.startswith("s3://") or len(value) <= 5:
        raise argparse.ArgumentTypeError(f"{value!r}: write an s3://bucket/prefix URI")
    return value


def _percent(value: str) -> int:
    number = int(value)
    if not 0 <= number <= 100:
        raise argparse.ArgumentTypeError(f"{value!r}: a percentage is 0 to 100")
    return number


def _between(low: int, high: int) -> Any:
    def parse(value: str) -> int:
        number = int(value)
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{value!r}: use {low} to {high}")
        return number

    return parse


def _arn(value: str) -> str:
    if not value.startswith("arn:"):
        raise argparse.ArgumentTypeError(f"{value!r}: write the topic's ARN (arn:aws:sns:…)")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    capture = p.add_argument_group("data capture (not on serverless endpoints)")
    capture.add_argument("--capture-s3-uri", type=_s3, default=None,
                         help="capture requests and responses to this s3:// prefix")
    capture.add_argument("--capture-percent", type=_percent, default=20,
                         help="percentage of requests captured (default 20)")
    capture.add_argument("--capture", choices=sorted(_CAPTURE_MODES), default="both",
                         help="what is captured: the request, the response or both")
    capture.add_argument("--capture-kms-key", default=None, help="KMS key for the captured data")

    alarms = p.add_argument_group("CloudWatch alarms")
    alarms.add_argument("--no-alarms", dest="alarms", action="store_false",
                        help="create no alarms (and so no automatic rollback on update)")
    alarms.add_argument("--alarm-5xx-percent", type=float, default=5.0,
                        help="alarm when more than this percentage of invocations answer 5xx")
    alarms.add_argument("--alarm-min-invocations", type=_between(1, 1_000_000), default=5,
                        help="a period with fewer invocations never counts as breaching the "
                             "5xx rate (one failure in two requests is not an outage)")
    alarms.add_argument("--alarm-p95-ms", type=float, default=10_000.0,
                        help="alarm when the p95 of ModelLatency exceeds this (milliseconds)")
    alarms.add_argument("--alarm-period", type=_between(60, 86_400), default=60,
                        help="seconds per evaluated datapoint")
    alarms.add_argument("--alarm-evaluation-periods", type=_between(1, 100), default=5)
    alarms.add_argument("--alarm-datapoints", type=_between(1, 100), default=3,
                        help="breaching datapoints among the evaluated ones that set off the alarm")
    alarms.add_argument("--alarm-sns-topic", type=_arn, default=None,
                        help="SNS topic notified when an alarm fires and when it clears")

    kind = p.add_argument_group("serverless / asynchronous endpoints (low-traffic booths)")
    exclusive = kind.add_mutually_exclusive_group()
    exclusive.add_argument("--serverless", action="store_true",
                           help="a serverless endpoint: CPU only, at most 6 GB of memory")
    exclusive.add_argument("--async-output-s3-uri", type=_s3, default=None,
                           help="an asynchronous endpoint writing its answers to this prefix")
    kind.add_argument("--serverless-memory-mb", type=int, choices=SERVERLESS_MEMORY_MB,
                      default=6144)
    kind.add_argument("--serverless-max-concurrency", type=_between(1, 200), default=5)
    kind.add_argument("--serverless-provisioned-concurrency", type=_between(1, 200),
                      default=None, help="warm instances kept ready (billed while idle)")
    kind.add_argument("--async-failure-s3-uri", type=_s3, default=None,
                      help="where failed asynchronous requests are written")
    kind.add_argument("--async-success-topic", type=_arn, default=None,
                      help="SNS topic told of each finished asynchronous request")
    kind.add_argument("--async-error-topic", type=_arn, default=None,
                      help="SNS topic told of each failed asynchronous request")
    kind.add_argument("--async-max-concurrent", type=_between(1, 1000), default=None,
                      help="concurrent requests SageMaker sends to each instance")
    kind.add_argument("--target-backlog", type=float, default=2.0,
                      help="async auto scaling: queued requests per instance to aim for")

    update = p.add_argument_group("update (--update): blue/green traffic shifting")
    update.add_argument("--traffic", choices=sorted(_TRAFFIC), default="all-at-once",
                        help="how traffic moves to the new fleet (real-time endpoints)")
    update.add_argument("--canary-percent", type=_between(1, 100), default=10,
                        help="share of capacity that takes traffic first (--traffic canary)")
    update.add_argument("--linear-step-percent", type=_between(1, 100), default=25,
                        help="share of capacity moved per step (--traffic linear)")
    update.add_argument("--bake-seconds", type=_between(0, 3600), default=300,
                        help="watch the alarms this long after each traffic shift")
    update.add_argument("--termination-wait-seconds", type=_between(0, 3600), default=0,
                        help="keep the old fleet this long after the last shift")


def check_arguments(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Combinations AWS refuses, refused here with a message instead of a failed API call."""
    args.kind = SERVERLESS if args.serverless else ASYNC if args.async_output_s3_uri else REALTIME
    if args.kind == SERVERLESS:
        given = sorted(f"--{k.replace('_', '-')}" for k in INSTANCE_OPTIONS
                       if getattr(args, k) is not None)
        if given:
            p.error(f"{', '.join(given)}: a serverless endpoint has no instances to size or scale")
        if args.capture_s3_uri:
            p.error("--capture-s3-uri: serverless endpoints do not support data capture")
        provisioned = args.serverless_provisioned_concurrency
        if provisioned is not None and provisioned > args.serverless_max_concurrency:
            p.error("--serverless-provisioned-concurrency must not exceed "
                    "--serverless-max-concurrency")
        if args.traffic != "all-at-once":
            p.error("--traffic canary/linear needs instances; serverless updates shift all at once")
    if args.kind != ASYNC and (args.async_failure_s3_uri or args.async_success_topic
                               or args.async_error_topic or args.async_max_concurrent):
        p.error("the --async-* options need --async-output-s3-uri")
    if args.kind == ASYNC and args.traffic != "all-at-once":
        p.error("--traffic canary/linear is offered for real-time endpoints only")
    if args.kind != SERVERLESS:
        for key, default in INSTANCE_OPTIONS.items():
            if getattr(args, key) is None:
                setattr(args, key, default)
        if args.min_instances == 0 and args.kind != ASYNC:
            p.error("--min-instances 0 is possible for asynchronous endpoints only")
    if args.alarm_period % 60 or args.alarm_period * args.alarm_evaluation_periods > 86_400:
        p.error("--alarm-period is a multiple of 60 s, and --alarm-period × "
                "--alarm-evaluation-periods at most a day (CloudWatch's limits)")
    if args.alarm_datapoints > args.alarm_evaluation_periods:
        p.error("--alarm-datapoints must not exceed --alarm-evaluation-periods")
    if args.target_backlog <= 0 or args.alarm_5xx_percent <= 0 or args.alarm_p95_ms <= 0:
        p.error("--target-backlog, --alarm-5xx-percent and --alarm-p95-ms must be positive")


def data_capture_config(args: argparse.Namespace) -> dict[str, Any] | None:
    if not args.capture_s3_uri:
        return None
    config: dict[str, Any] = {
        "EnableCapture": True,
        "InitialSamplingPercentage": args.capture_percent,
        "DestinationS3Uri": args.capture_s3_uri,
        "CaptureOptions": [{"CaptureMode": mode} for mode in _CAPTURE_MODES[args.capture]],
        # our /invocations speaks JSON: captured as text rather than base64
        "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
    }
    if args.capture_kms_key:
        config["KmsKeyId"] = args.capture_kms_key
    return config


def serverless_config(args: argparse.Namespace) -> dict[str, Any]:
    config = {"MemorySizeInMB": args.serverless_memory_mb,
              "MaxConcurrency": args.serverless_max_concurrency}
    if args.serverless_provisioned_concurrency:
        config["ProvisionedConcurrency"] = args.serverless_provisioned_concurrency
    return config


def async_inference_config(args: argparse.Namespace) -> dict[str, Any]:
    output: dict[str, Any] = {"S3OutputPath": args.async_output_s3_uri}
    if args.async_failure_s3_uri:
        output["S3FailurePath"] = args.async_failure_s3_uri
    notification = {key: topic for key, topic in (("SuccessTopic", args.async_success_topic),
                                                  ("ErrorTopic", args.async_error_topic)) if topic}
    if notification:
        output["NotificationConfig"] = notification
    config: dict[str, Any] = {"OutputConfig": output}
    if args.async_max_concurrent:
        config["ClientConfig"] = {"MaxConcurrentInvocationsPerInstance": args.async_max_concurrent}
    return config


def _dimensions(endpoint: str, variant: str) -> list[dict[str, str]]:
    return [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]


def _stat(metric_id: str, name: str, stat: str, dims: list, period: int) -> dict[str, Any]:
    return {"Id": metric_id, "ReturnData": False, "MetricStat": {
        "Metric": {"Namespace": NAMESPACE, "MetricName": name, "Dimensions": dims},
        "Period": period, "Stat": stat}}


def alarm_names(endpoint: str) -> list[str]:
    return [f"{endpoint}-5xx-rate", f"{endpoint}-p95-latency"]


def alarm_requests(args: argparse.Namespace, variant: str) -> list[dict[str, Any]]:
    """The 5xx-rate and p95-latency alarms (PutMetricAlarm requests); empty with --no-alarms.

    The 5xx alarm watches a rate, not a count: metric math divides Invocation5XXErrors by
    Invocations per period, and a period under --alarm-min-invocations counts as 0 %. An
    asynchronous endpoint publishes no Invocations metric; there Invocation5XXErrors is
    averaged instead (SageMaker emits 1 per 5xx answer and 0 otherwise, so the average is
    the rate), without the minimum-traffic guard.
    """
    if not args.alarms:
        return []
    dims = _dimensions(args.name, variant)
    period = args.alarm_period
    if args.kind == ASYNC:
        metrics = [_stat("errors", "Invocation5XXErrors", "Average", dims, period),
                   {"Id": "rate", "Expression": "100 * errors", "ReturnData": True,
                    "Label": "5xx answers, % of requests"}]
    else:
        metrics = [
            _stat("errors", "Invocation5XXErrors", "Sum", dims, period),
            _stat("invocations", "Invocations", "Sum", dims, period),
            {"Id": "rate", "ReturnData": True, "Label": "5xx answers, % of invocations",
             "Expression": f"IF(invocations >= {args.alarm_min_invocations}, "
                           "100 * FILL(errors, 0) / invocations, 0)"},
        ]
    common: dict[str, Any] = {
        "ActionsEnabled": True,
        "EvaluationPeriods": args.alarm_evaluation_periods,
        "DatapointsToAlarm": args.alarm_datapoints,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",  # no traffic is not an outage
        "Tags": [{"Key": "project", "Value": "tsukeku"}],
    }
    if args.alarm_sns_topic:
        common["AlarmActions"] = [args.alarm_sns_topic]
        common["OKActions"] = [args.alarm_sns_topic]
    rate_name, latency_name = alarm_names(args.name)
    return [
        {"AlarmName": rate_name, **common, "Metrics": metrics,
         "Threshold": args.alarm_5xx_percent,
         "AlarmDescription": f"tsukeku endpoint {args.name}: more than "
                             f"{args.alarm_5xx_percent:g} % of requests answered 5xx"},
        {"AlarmName": latency_name, **common, "Namespace": NAMESPACE,
         "MetricName": "ModelLatency", "Dimensions": dims, "ExtendedStatistic": "p95",
         "Period": period,
         "Threshold": args.alarm_p95_ms * 1000,  # ModelLatency is in microseconds
         "AlarmDescription": f"tsukeku endpoint {args.name}: p95 model latency above "
                             f"{args.alarm_p95_ms:g} ms"},
    ]


def deployment_config(args: argparse.Namespace) -> dict[str, Any] | None:
    """Blue/green traffic shifting with automatic rollback on our alarms (UpdateEndpoint).

    Only for real-time instance endpoints: serverless and asynchronous ones are updated with
    SageMaker's default (blue/green, all at once), which this script has not tried with
    deployment guardrails.
    """
    if args.kind != REALTIME:
        return None
    routing: dict[str, Any] = {"Type": _TRAFFIC[args.traffic],
                               "WaitIntervalInSeconds": args.bake_seconds}
    if args.traffic == "canary":
        routing["CanarySize"] = {"Type": "CAPACITY_PERCENT", "Value": args.canary_percent}
    elif args.traffic == "linear":
        routing["LinearStepSize"] = {"Type": "CAPACITY_PERCENT",
                                     "Value": args.linear_step_percent}
    config: dict[str, Any] = {"BlueGreenUpdatePolicy": {
        "TrafficRoutingConfiguration": routing,
        "TerminationWaitInSeconds": args.termination_wait_seconds,
    }}
    if args.alarms:
        config["AutoRollbackConfiguration"] = {
            "Alarms": [{"AlarmName": name} for name in alarm_names(args.name)]}
    return config


def backlog_scaling_policy(args: argparse.Namespace, resource_id: str,
                           dimension: str) -> dict[str, Any]:
    """Async endpoints scale on their queue (ApproximateBacklogSizePerInstance): they publish
    no invocations-per-instance metric."""
    return {
        "PolicyName": f"{args.name}-backlog-per-instance",
        "ServiceNamespace": "sagemaker",
        "ResourceId": resource_id,
        "ScalableDimension": dimension,
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": args.target_backlog,
            "CustomizedMetricSpecification": {
                "MetricName": "ApproximateBacklogSizePerInstance", "Namespace": NAMESPACE,
                "Dimensions": [{"Name": "EndpointName", "Value": args.name}],
                "Statistic": "Average",
            },
            "ScaleInCooldown": args.scale_in_cooldown,
            "ScaleOutCooldown": args.scale_out_cooldown,
        },
    }


def scale_from_zero_policy(args: argparse.Namespace, resource_id: str,
                           dimension: str) -> dict[str, Any]:
    """At zero instances the backlog per instance is undefined, so target tracking never
    starts the first one; a step policy adds one when requests wait without capacity."""
    return {
        "PolicyName": f"{args.name}-scale-from-zero",
        "ServiceNamespace": "sagemaker",
        "ResourceId": resource_id,
        "ScalableDimension": dimension,
        "PolicyType": "StepScaling",
        "StepScalingPolicyConfiguration": {
            "AdjustmentType": "ChangeInCapacity",
            "MetricAggregationType": "Average",
            "Cooldown": args.scale_out_cooldown,
            "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}],
        },
    }


def scale_from_zero_alarm(args: argparse.Namespace) -> dict[str, Any]:
    """PutMetricAlarm request; its AlarmActions get the step policy's ARN once it exists."""
    return {
        "AlarmName": f"{args.name}-backlog-without-capacity",
        "AlarmDescription": f"tsukeku endpoint {args.name}: requests queued at zero instances",
        "Namespace": NAMESPACE, "MetricName": "HasBacklogWithoutCapacity",
        "Dimensions": [{"Name": "EndpointName", "Value": args.name}],
        "Statistic": "Average", "Period": 60, "EvaluationPeriods": 2,
        "Threshold": 1, "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "missing",
        "Tags": [{"Key": "project", "Value": "tsukeku"}],
    }
