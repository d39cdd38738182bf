"""deploy/sagemaker_deploy.py: argument parsing, the requests it builds, and the calls it makes,
checked against botocore's own API models through Stubber (nothing reaches AWS)."""

from __future__ import annotations

import importlib.util
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


def _clients():
    kw = {"region_name": "us-east-1", "aws_access_key_id": "testing",
          "aws_secret_access_key": "testing"}
    return boto3.client("sagemaker", **kw), boto3.client("application-autoscaling", **kw)


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


def test_every_request_is_valid_for_the_aws_api():
    """Each request matches botocore's service model; Stubber checks the calls and order."""
    args = sd.parse_args([*BASE, "--min-instances", "2", "--initial-instances", "2",
                          "--max-instances", "8", "--target-invocations", "25"])
    p = sd.plan(args, "20250101-000000")
    sm, aas = _clients()
    for client, operation, params in [
        (sm, "CreateModel", p.model), (sm, "CreateEndpointConfig", p.endpoint_config),
        (sm, "CreateEndpoint", p.endpoint), (aas, "RegisterScalableTarget", p.scalable_target),
        (aas, "PutScalingPolicy", p.scaling_policy),
    ]:
        _validate(client, operation, params)
    with Stubber(sm) as sm_stub, Stubber(aas) as aas_stub:
        arn = "arn:aws:sagemaker:us-east-1:123456789012:{}/tsukeku"
        sm_stub.add_response("create_model", {"ModelArn": arn.format("model")}, p.model)
        sm_stub.add_response("create_endpoint_config",
                             {"EndpointConfigArn": arn.format("endpoint-config")},
                             p.endpoint_config)
        sm_stub.add_response("create_endpoint", {"EndpointArn": arn.format("endpoint")},
                             p.endpoint)
        sm_stub.add_response("describe_endpoint", {
            "EndpointName": "tsukeku", "EndpointArn": arn.format("endpoint"),
            "EndpointConfigName": "tsukeku-20250101-000000", "EndpointStatus": "InService",
            "CreationTime": "2025-01-01T00:00:00Z", "LastModifiedTime": "2025-01-01T00:00:00Z",
        }, {"EndpointName": "tsukeku"})
        aas_stub.add_response("register_scalable_target", {}, p.scalable_target)
        aas_stub.add_response("put_scaling_policy", {"PolicyARN": "arn:aws:autoscaling:policy"},
                              p.scaling_policy)
        out = sd.deploy(p, sm, aas, log=lambda *_: None)
        sm_stub.assert_no_pending_responses()
        aas_stub.assert_no_pending_responses()
    assert out["scaling_policy"] == "arn:aws:autoscaling:policy"


def test_update_uses_update_endpoint_and_botocore_rejects_a_broken_request():
    args = sd.parse_args([*BASE, "--update"])
    p = sd.plan(args, "20250101-000000")
    assert "Tags" not in p.endpoint and "update_endpoint" in p.as_dict()
    sm, _ = _clients()
    _validate(sm, "UpdateEndpoint", p.endpoint)
    with pytest.raises(ParamValidationError):  # the check above can fail
        _validate(sm, "CreateModel", dict(p.model, PrimaryContainer={"Image": 42}))


def test_dry_run_prints_the_plan(capsys):
    assert sd.main([*BASE, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert '"create_endpoint"' in out and "SageMakerVariantInvocationsPerInstance" in out
