"""deploy/sagemaker_deploy.py: argument parsing, the requests it builds, and the calls it makes,
checked against botocore's own API models through Stubber (nothing reaches AWS)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ParamValidationError
from botocore.stub import Stubber
from botocore.validate import validate_parameters

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "sagemaker_deploy.py"
spec = importlib.util.spec_from_file_location("sagemaker_deploy", SCRIPT)
sd = importlib.util.module_from_spec(spec)
sys.modules["sagemaker_deploy"] = sd  # dataclasses look their module up while decorating
spec.loader.exec_module(sd)

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/tsukeku:1"
BASE = ["--name", "tsukeku", "--image", IMAGE, "--model-data", "s3://bucket/model.tar.gz",
        "--role", ROLE]


KW = {"region_name": "us-east-1", "aws_access_key_id": "testing",
      "aws_secret_access_key": "testing"}
ARN = "arn:aws:sagemaker:us-east-1:123456789012:{}/tsukeku"
TOPIC = "arn:aws:sns:us-east-1:123456789012:ops"
STAMP = "20250101-000000"
NEW_CONFIG = f"tsukeku-{STAMP}"


def _clients():
    return boto3.client("sagemaker", **KW), boto3.client("application-autoscaling", **KW)


def _cloudwatch():
    return boto3.client("cloudwatch", **KW)


def _endpoint(config: str, status: str = "InService", **extra) -> dict:
    return {"EndpointName": "tsukeku", "EndpointArn": ARN.format("endpoint"),
            "EndpointConfigName": config, "EndpointStatus": status,
            "CreationTime": "2025-01-01T00:00:00Z", "LastModifiedTime": "2025-01-01T00:00:00Z",
            **extra}


def test_defaults_and_plan():
    args = sd.parse_args([*BASE, "--env", "TSUKEKU_MAX_BATCH=16", "--env", "A=b=c"])
    p = sd.plan(args, "20250101-000000")
    assert p.model["ModelName"] == "tsukeku-20250101-000000"
    assert p.model["PrimaryContainer"]["Environment"]["TSUKEKU_MAX_BATCH"] == "16"
    assert p.model["PrimaryContainer"]["Environment"]["A"] == "b=c"
    variant = p.endpoint_config["ProductionVariants"][0]
    assert variant["ModelName"] == p.model["ModelName"]
    assert variant["InstanceType"] == "ml.g5.xlarge" and variant["InitialInstanceCount"] == 1
    assert p.endpoint == {"EndpointName": "tsukeku", "EndpointConfigName": "tsukeku-20250101-000000",
                          "Tags": [{"Key": "project", "Value": "tsukeku"}]}
    assert p.scalable_target["ResourceId"] == "endpoint/tsukeku/variant/AllTraffic"
    assert (p.scalable_target["MinCapacity"], p.scalable_target["MaxCapacity"]) == (1, 4)
    tracking = p.scaling_policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == \
        "SageMakerVariantInvocationsPerInstance"
    assert tracking["TargetValue"] == 40.0


@pytest.mark.parametrize(
    "extra",
    [
        ["--min-instances", "3", "--max-instances", "2"],
        ["--initial-instances", "5", "--max-instances", "4"],
        ["--target-invocations", "0"],
        ["--env", "NOEQUALS"],
        ["--scale-in-cooldown", "-1"],
    ],
)
def test_bad_arguments_exit_with_usage(extra, capsys):
    with pytest.raises(SystemExit) as info:
        sd.parse_args([*BASE, *extra])
    assert info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_bad_names_and_model_data(capsys):
    for argv in (
        ["--name", "bad_name!", *BASE[2:]],
        ["--name", "x" * 48, *BASE[2:]],
        [*BASE[:4], "--model-data", "/local/model.tar.gz", *BASE[6:]],
    ):
        with pytest.raises(SystemExit):
            sd.parse_args(argv)


def _validate(client, operation: str, params: dict) -> None:
    shape = client.meta.service_model.operation_model(operation).input_shape
    validate_parameters(params, shape)  # raises ParamValidationError


def _validate_plan(p) -> None:
    """Every request of a plan against botocore's models of the three services."""
    sm, aas = _clients()
    cw = _cloudwatch()
    checks = [(sm, "CreateModel", p.model), (sm, "CreateEndpointConfig", p.endpoint_config),
              (sm, "UpdateEndpoint" if p.update else "CreateEndpoint", p.endpoint)]
    checks += [(cw, "PutMetricAlarm", alarm) for alarm in p.alarms]
    if p.scalable_target:
        checks += [(aas, "RegisterScalableTarget", p.scalable_target),
                   (aas, "PutScalingPolicy", p.scaling_policy)]
    if p.zero_policy:
        checks += [(aas, "PutScalingPolicy", p.zero_policy),
                   (cw, "PutMetricAlarm", dict(p.zero_alarm, AlarmActions=["arn:aws:x"]))]
    for client, operation, params in checks:
        _validate(client, operation, params)


def _stub_create_calls(sm_stub, p) -> None:
    sm_stub.add_response("create_model", {"ModelArn": ARN.format("model")}, p.model)
    sm_stub.add_response("create_endpoint_config",
                         {"EndpointConfigArn": ARN.format("endpoint-config")}, p.endpoint_config)


def test_every_request_is_valid_for_the_aws_api():
    """Each request matches botocore's service model; Stubber checks the calls and order."""
    args = sd.parse_args([*BASE, "--min-instances", "2", "--initial-instances", "2",
                          "--max-instances", "8", "--target-invocations", "25",
                          "--alarm-sns-topic", TOPIC])
    p = sd.plan(args, STAMP)
    _validate_plan(p)
    sm, aas = _clients()
    cw = _cloudwatch()
    with Stubber(sm) as sm_stub, Stubber(aas) as aas_stub, Stubber(cw) as cw_stub:
        _stub_create_calls(sm_stub, p)
        sm_stub.add_response("create_endpoint", {"EndpointArn": ARN.format("endpoint")},
                             p.endpoint)
        for alarm in p.alarms:
            cw_stub.add_response("put_metric_alarm", {}, alarm)
        sm_stub.add_response("describe_endpoint", _endpoint(NEW_CONFIG),
                             {"EndpointName": "tsukeku"})
        aas_stub.add_response("register_scalable_target", {}, p.scalable_target)
        aas_stub.add_response("put_scaling_policy", {"PolicyARN": "arn:aws:autoscaling:policy"},
                              p.scaling_policy)
        out = sd.deploy(p, sm, aas, cw, log=lambda *_: None)
        for stub in (sm_stub, aas_stub, cw_stub):
            stub.assert_no_pending_responses()
    assert out["scaling_policy"] == "arn:aws:autoscaling:policy"
    assert out["alarms"] == ["tsukeku-5xx-rate", "tsukeku-p95-latency"]


def test_alarms_watch_the_5xx_rate_and_the_p95_latency():
    args = sd.parse_args([*BASE, "--alarm-5xx-percent", "2", "--alarm-min-invocations", "20",
                          "--alarm-p95-ms", "8000", "--alarm-sns-topic", TOPIC])
    rate, latency = sd.plan(args, STAMP).alarms
    dims = [{"Name": "EndpointName", "Value": "tsukeku"},
            {"Name": "VariantName", "Value": "AllTraffic"}]
    # the rate: metric math over two sums, exactly one series returned, ids all defined
    by_id = {m["Id"]: m for m in rate["Metrics"]}
    assert [m["Id"] for m in rate["Metrics"] if m["ReturnData"]] == ["rate"]
    assert by_id["errors"]["MetricStat"]["Metric"]["MetricName"] == "Invocation5XXErrors"
    assert by_id["invocations"]["MetricStat"]["Metric"]["MetricName"] == "Invocations"
    assert all(m["MetricStat"]["Stat"] == "Sum" and m["MetricStat"]["Metric"]["Dimensions"] == dims
               for m in rate["Metrics"] if "MetricStat" in m)
    expression = by_id["rate"]["Expression"]
    assert set(re.findall(r"\b[a-z]\w*\b", expression)) <= set(by_id)
    assert expression == "IF(invocations >= 20, 100 * FILL(errors, 0) / invocations, 0)"
    assert rate["Threshold"] == 2.0 and "MetricName" not in rate
    # the latency: a percentile of ModelLatency, whose unit is microseconds
    assert (latency["MetricName"], latency["ExtendedStatistic"]) == ("ModelLatency", "p95")
    assert latency["Threshold"] == 8_000_000 and latency["Dimensions"] == dims
    assert "Statistic" not in latency
    for alarm in (rate, latency):
        assert alarm["AlarmActions"] == alarm["OKActions"] == [TOPIC]
        assert alarm["TreatMissingData"] == "notBreaching"
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert sd.plan(sd.parse_args([*BASE, "--no-alarms"]), STAMP).alarms == []


def test_data_capture_goes_on_the_endpoint_config():
    args = sd.parse_args([*BASE, "--capture-s3-uri", "s3://bucket/capture",
                          "--capture-percent", "50", "--capture", "input",
                          "--capture-kms-key", "alias/tsukeku"])
    p = sd.plan(args, STAMP)
    assert p.endpoint_config["DataCaptureConfig"] == {
        "EnableCapture": True, "InitialSamplingPercentage": 50,
        "DestinationS3Uri": "s3://bucket/capture", "CaptureOptions": [{"CaptureMode": "Input"}],
        "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
        "KmsKeyId": "alias/tsukeku"}
    _validate_plan(p)
    both = sd.plan(sd.parse_args([*BASE, "--capture-s3-uri", "s3://b/c"]), STAMP)
    assert both.endpoint_config["DataCaptureConfig"]["CaptureOptions"] == [
        {"CaptureMode": "Input"}, {"CaptureMode": "Output"}]
    assert "DataCaptureConfig" not in sd.plan(sd.parse_args(BASE), STAMP).endpoint_config


def test_serverless_variant_has_no_instances_and_no_auto_scaling():
    args = sd.parse_args([*BASE, "--serverless", "--serverless-memory-mb", "4096",
                          "--serverless-max-concurrency", "8",
                          "--serverless-provisioned-concurrency", "2"])
    p = sd.plan(args, STAMP)
    variant = p.endpoint_config["ProductionVariants"][0]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 4096, "MaxConcurrency": 8,
                                           "ProvisionedConcurrency": 2}
    assert not {"InstanceType", "InitialInstanceCount"} & set(variant)
    assert p.scalable_target is None and p.scaling_policy is None
    assert [a["AlarmName"] for a in p.alarms] == ["tsukeku-5xx-rate", "tsukeku-p95-latency"]
    _validate_plan(p)
    sm, aas = _clients()
    cw = _cloudwatch()
    with Stubber(sm) as sm_stub, Stubber(aas) as aas_stub, Stubber(cw) as cw_stub:
        _stub_create_calls(sm_stub, p)
        sm_stub.add_response("create_endpoint", {"EndpointArn": ARN.format("endpoint")},
                             p.endpoint)
        for alarm in p.alarms:
            cw_stub.add_response("put_metric_alarm", {}, alarm)
        sm_stub.add_response("describe_endpoint", _endpoint(NEW_CONFIG),
                             {"EndpointName": "tsukeku"})
        out = sd.deploy(p, sm, aas, cw, log=lambda *_: None)  # no auto scaling call stubbed
        for stub in (sm_stub, aas_stub, cw_stub):
            stub.assert_no_pending_responses()
    assert "scaling_policy" not in out


@pytest.mark.parametrize(
    "extra",
    [
        ["--serverless", "--async-output-s3-uri", "s3://b/out"],
        ["--serverless", "--instance-type", "ml.g5.xlarge"],
        ["--serverless", "--min-instances", "1"],
        ["--serverless", "--capture-s3-uri", "s3://b/c"],
        ["--serverless", "--serverless-memory-mb", "1500"],
        ["--serverless", "--serverless-max-concurrency", "2",
         "--serverless-provisioned-concurrency", "3"],
        ["--serverless", "--update", "--traffic", "canary"],
        ["--async-success-topic", TOPIC],
        ["--min-instances", "0"],
        ["--async-output-s3-uri", "s3://b/out", "--update", "--traffic", "linear"],
        ["--capture-percent", "101"],
        ["--alarm-datapoints", "6", "--alarm-evaluation-periods", "5"],
        ["--alarm-period", "90"],
        ["--alarm-period", "3600", "--alarm-evaluation-periods", "25"],
        ["--alarm-sns-topic", "ops"],
        ["--capture-s3-uri", "bucket/capture"],
    ],
)
def test_combinations_aws_refuses_are_refused_here(extra, capsys):
    with pytest.raises(SystemExit) as info:
        sd.parse_args([*BASE, *extra])
    assert info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_async_endpoint_scales_on_its_backlog_down_to_zero():
    args = sd.parse_args([*BASE, "--async-output-s3-uri", "s3://bucket/out",
                          "--async-failure-s3-uri", "s3://bucket/failed",
                          "--async-success-topic", TOPIC, "--async-error-topic", TOPIC,
                          "--async-max-concurrent", "4", "--min-instances", "0",
                          "--initial-instances", "1", "--max-instances", "2",
                          "--target-backlog", "3", "--capture-s3-uri", "s3://bucket/capture"])
    p = sd.plan(args, STAMP)
    assert p.endpoint_config["AsyncInferenceConfig"] == {
        "OutputConfig": {"S3OutputPath": "s3://bucket/out", "S3FailurePath": "s3://bucket/failed",
                         "NotificationConfig": {"SuccessTopic": TOPIC, "ErrorTopic": TOPIC}},
        "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 4}}
    assert p.endpoint_config["ProductionVariants"][0]["InitialInstanceCount"] == 1
    assert p.scalable_target["MinCapacity"] == 0
    tracking = p.scaling_policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == 3.0
    assert tracking["CustomizedMetricSpecification"]["MetricName"] == \
        "ApproximateBacklogSizePerInstance"
    # async endpoints publish no Invocations metric: the rate is the average of the 0/1 series
    rate = p.alarms[0]
    assert [m["MetricStat"]["Metric"]["MetricName"] for m in rate["Metrics"]
            if "MetricStat" in m] == ["Invocation5XXErrors"]
    assert rate["Metrics"][0]["MetricStat"]["Stat"] == "Average"
    assert p.zero_alarm["MetricName"] == "HasBacklogWithoutCapacity"
    _validate_plan(p)
    sm, aas = _clients()
    cw = _cloudwatch()
    with Stubber(sm) as sm_stub, Stubber(aas) as aas_stub, Stubber(cw) as cw_stub:
        _stub_create_calls(sm_stub, p)
        sm_stub.add_response("create_endpoint", {"EndpointArn": ARN.format("endpoint")},
                             p.endpoint)
        for alarm in p.alarms:
            cw_stub.add_response("put_metric_alarm", {}, alarm)
        sm_stub.add_response("describe_endpoint", _endpoint(NEW_CONFIG),
                             {"EndpointName": "tsukeku"})
        aas_stub.add_response("register_scalable_target", {}, p.scalable_target)
        aas_stub.add_response("put_scaling_policy", {"PolicyARN": "arn:aws:policy/backlog"},
                              p.scaling_policy)
        aas_stub.add_response("put_scaling_policy", {"PolicyARN": "arn:aws:policy/zero"},
                              p.zero_policy)
        cw_stub.add_response("put_metric_alarm", {},
                             dict(p.zero_alarm, AlarmActions=["arn:aws:policy/zero"]))
        out = sd.deploy(p, sm, aas, cw, log=lambda *_: None)
        for stub in (sm_stub, aas_stub, cw_stub):
            stub.assert_no_pending_responses()
    assert out["scale_from_zero_policy"] == "arn:aws:policy/zero"


def _old_config(instance_type: str = "ml.g5.xlarge", **extra) -> dict:
    return {"EndpointConfigName": "tsukeku-20240101-000000",
            "EndpointConfigArn": ARN.format("endpoint-config"),
            "CreationTime": "2024-01-01T00:00:00Z",
            "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": "tsukeku-old",
                                    "InstanceType": instance_type, "InitialInstanceCount": 1}],
            **extra}


_TARGET = {"ServiceNamespace": "sagemaker", "ResourceId": "endpoint/tsukeku/variant/AllTraffic",
           "ScalableDimension": "sagemaker:variant:DesiredInstanceCount", "MinCapacity": 1,
           "MaxCapacity": 4, "RoleARN": "arn:aws:iam::123456789012:role/x",
           "CreationTime": "2024-01-01T00:00:00Z"}


def _run_update(p, *, old_config: dict, registered: bool, final_config: str,
                deregister: bool = False, expect_scaling: bool = True):
    """Stubs the whole rolling update; returns (result or exception, the update request)."""
    sm, aas = _clients()
    cw = _cloudwatch()
    sent = {}
    with Stubber(sm) as sm_stub, Stubber(aas) as aas_stub, Stubber(cw) as cw_stub:
        sm_stub.add_response("describe_endpoint", _endpoint(old_config["EndpointConfigName"]),
                             {"EndpointName": "tsukeku"})
        sm_stub.add_response("describe_endpoint_config", old_config,
                             {"EndpointConfigName": old_config["EndpointConfigName"]})
        aas_stub.add_response("describe_scalable_targets",
                              {"ScalableTargets": [_TARGET] if registered else []},
                              {"ServiceNamespace": "sagemaker", "ResourceIds": [
                                  "endpoint/tsukeku/variant/AllTraffic"],
                               "ScalableDimension": "sagemaker:variant:DesiredInstanceCount"})
        if deregister:
            aas_stub.add_response("deregister_scalable_target", {}, {
                "ServiceNamespace": "sagemaker", "ResourceId": _TARGET["ResourceId"],
                "ScalableDimension": _TARGET["ScalableDimension"]})
        _stub_create_calls(sm_stub, p)
        for alarm in p.alarms:
            cw_stub.add_response("put_metric_alarm", {}, alarm)
        request = dict(p.endpoint)
        if registered and not deregister:
            request["RetainAllVariantProperties"] = True
            request["ExcludeRetainedVariantProperties"] = [
                {"VariantPropertyType": "DataCaptureConfig"}]
        sent["request"] = request
        _validate(sm, "UpdateEndpoint", request)
        sm_stub.add_response("update_endpoint", {"EndpointArn": ARN.format("endpoint")}, request)
        sm_stub.add_response("describe_endpoint", _endpoint(final_config),
                             {"EndpointName": "tsukeku"})  # the waiter
        sm_stub.add_response("describe_endpoint",
                             _endpoint(final_config, FailureReason="alarm tsukeku-5xx-rate"),
                             {"EndpointName": "tsukeku"})  # the check after it
        if expect_scaling:
            aas_stub.add_response("register_scalable_target", {}, p.scalable_target)
            aas_stub.add_response("put_scaling_policy", {"PolicyARN": "arn:aws:policy"},
                                  p.scaling_policy)
        try:
            result = sd.deploy(p, sm, aas, cw, log=lambda *_: None)
        except sd.DeployError as error:
            result = error
        for stub in (sm_stub, aas_stub, cw_stub):
            stub.assert_no_pending_responses()
    return result, sent["request"]


def test_rolling_update_shifts_traffic_with_rollback_on_the_alarms():
    args = sd.parse_args([*BASE, "--update", "--traffic", "canary", "--canary-percent", "25",
                          "--bake-seconds", "600", "--termination-wait-seconds", "120",
                          "--capture-s3-uri", "s3://bucket/capture"])
    p = sd.plan(args, STAMP)
    _validate_plan(p)
    deployment = p.endpoint["DeploymentConfig"]
    assert deployment["BlueGreenUpdatePolicy"] == {
        "TrafficRoutingConfiguration": {"Type": "CANARY", "WaitIntervalInSeconds": 600,
                                        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 25}},
        "TerminationWaitInSeconds": 120}
    assert deployment["AutoRollbackConfiguration"] == {
        "Alarms": [{"AlarmName": a["AlarmName"]} for a in p.alarms]}
    result, request = _run_update(p, old_config=_old_config(), registered=True,
                                  final_config=NEW_CONFIG)
    assert result["previous_endpoint_config"] == "tsukeku-20240101-000000"
    assert result["scaling_policy"] == "arn:aws:policy"
    assert request["RetainAllVariantProperties"] is True  # auto scaling's instance count stays
    linear = sd.plan(sd.parse_args([*BASE, "--update", "--traffic", "linear"]), STAMP)
    routing = linear.endpoint["DeploymentConfig"]["BlueGreenUpdatePolicy"][
        "TrafficRoutingConfiguration"]
    assert routing["Type"] == "LINEAR" and routing["LinearStepSize"]["Value"] == 25
    no_alarms = sd.plan(sd.parse_args([*BASE, "--update", "--no-alarms"]), STAMP)
    assert "AutoRollbackConfiguration" not in no_alarms.endpoint["DeploymentConfig"]


def test_update_changing_the_instance_type_pauses_auto_scaling_first():
    args = sd.parse_args([*BASE, "--update", "--instance-type", "ml.g6.xlarge"])
    p = sd.plan(args, STAMP)
    result, request = _run_update(p, old_config=_old_config("ml.g5.xlarge"), registered=True,
                                  final_config=NEW_CONFIG, deregister=True)
    assert "RetainAllVariantProperties" not in request
    assert result["scaling_policy"] == "arn:aws:policy"


def test_update_rolled_back_by_sagemaker_is_reported():
    p = sd.plan(sd.parse_args([*BASE, "--update", "--traffic", "canary"]), STAMP)
    result, _ = _run_update(p, old_config=_old_config(), registered=False,
                            final_config="tsukeku-20240101-000000", expect_scaling=False)
    assert isinstance(result, sd.DeployError)
    assert "rolled back to tsukeku-20240101-000000" in str(result)
    assert "alarm tsukeku-5xx-rate" in str(result)


def test_update_refuses_another_endpoint_kind_and_a_busy_endpoint():
    sm, aas = _clients()
    p = sd.plan(sd.parse_args([*BASE, "--update", "--serverless"]), STAMP)
    with Stubber(sm) as sm_stub:
        sm_stub.add_response("describe_endpoint", _endpoint("tsukeku-20240101-000000"),
                             {"EndpointName": "tsukeku"})
        sm_stub.add_response("describe_endpoint_config", _old_config(),
                             {"EndpointConfigName": "tsukeku-20240101-000000"})
        with pytest.raises(sd.DeployError, match="is realtime, the new configuration is "
                                                 "serverless"):
            sd.update(p, sm, aas, _cloudwatch(), log=lambda *_: None)
        sm_stub.add_response("describe_endpoint", _endpoint("x", status="Updating"),
                             {"EndpointName": "tsukeku"})
        with pytest.raises(sd.DeployError, match="is Updating"):
            sd.update(p, sm, aas, _cloudwatch(), log=lambda *_: None)


def test_failed_endpoint_is_a_deploy_error_not_a_traceback():
    p = sd.plan(sd.parse_args([*BASE, "--no-alarms"]), STAMP)
    sm, aas = _clients()
    with Stubber(sm) as sm_stub:
        _stub_create_calls(sm_stub, p)
        sm_stub.add_response("create_endpoint", {"EndpointArn": ARN.format("endpoint")},
                             p.endpoint)
        sm_stub.add_response("describe_endpoint", _endpoint(
            NEW_CONFIG, status="Failed", FailureReason="the container did not answer /ping"),
            {"EndpointName": "tsukeku"})
        with pytest.raises(sd.DeployError, match="did not answer /ping"):
            sd.deploy(p, sm, aas, None, log=lambda *_: None)


def test_update_uses_update_endpoint_and_botocore_rejects_a_broken_request():
    args = sd.parse_args([*BASE, "--update"])
    p = sd.plan(args, STAMP)
    assert "Tags" not in p.endpoint and "update_endpoint" in p.as_dict()
    sm, _ = _clients()
    _validate(sm, "UpdateEndpoint", p.endpoint)
    with pytest.raises(ParamValidationError):  # the check above can fail
        _validate(sm, "CreateModel", dict(p.model, PrimaryContainer={"Image": 42}))
    with pytest.raises(ParamValidationError):
        _validate(_cloudwatch(), "PutMetricAlarm", dict(p.alarms[0], EvaluationPeriods="5"))


def test_dry_run_prints_the_plan(capsys):
    assert sd.main([*BASE, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert '"create_endpoint"' in out and "SageMakerVariantInvocationsPerInstance" in out
    assert "tsukeku-5xx-rate" in out and '"p95"' in out


def test_main_prints_aws_and_rollback_errors_without_a_traceback(monkeypatch, capsys):
    def rolled_back(*_args, **_kwargs):
        raise sd.DeployError("endpoint tsukeku was rolled back to tsukeku-old")

    monkeypatch.setattr(sd, "deploy", rolled_back)
    assert sd.main([*BASE, "--region", "us-east-1"]) == 2
    assert capsys.readouterr().err == "error: endpoint tsukeku was rolled back to tsukeku-old\n"
    monkeypatch.undo()
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no credential lookup on the network
    assert sd.main([*BASE, "--region", "us-east-1"]) == 2  # no credentials: botocore says so
    assert "credentials" in capsys.readouterr().err.lower()
