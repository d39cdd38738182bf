"""boto3 clients and botocore errors, shared by the SageMaker and Bedrock backends."""

from __future__ import annotations

from typing import Any

from tsukeku.errors import ConfigError


def client(service: str, *, region: str | None, endpoint_url: str | None, profile: str | None,
           timeout: float, max_attempts: int = 2) -> Any:
    """A boto3 client (`endpoint_url` points it at a local or private endpoint)."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ProfileNotFound

    try:
        session = boto3.session.Session(profile_name=profile, region_name=region)
        return session.client(
            service,
            endpoint_url=endpoint_url,
            config=Config(read_timeout=timeout, connect_timeout=min(10.0, timeout),
                          retries={"max_attempts": max_attempts, "mode": "standard"}),
        )
    except ProfileNotFound as err:
        raise ConfigError(f"AWS profile {profile!r} not found ({err}); fix `profile`") from err
    except BotoCoreError as err:
        if "region" in str(err).lower():
            raise ConfigError(f"{service}: no AWS region; set `region` in the models file or "
                              "AWS_DEFAULT_REGION") from err
        raise ConfigError(f"{service}: {err}") from err


def translate(err: Exception) -> str | None:
    """A readable message for a botocore exception (None: not one of botocore's)."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        ReadTimeoutError,
    )

    if isinstance(err, NoCredentialsError):
        return ("no AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                "AWS_PROFILE or `profile` in the models file")
    if isinstance(err, NoRegionError):
        return "no AWS region: set `region` in the models file or AWS_DEFAULT_REGION"
    if isinstance(err, EndpointConnectionError):
        return f"cannot connect to {err.kwargs.get('endpoint_url', 'the endpoint')}"
    if isinstance(err, ReadTimeoutError):
        return "timed out waiting for the answer; raise `timeout` in the models file"
    if isinstance(err, ClientError):
        info = err.response.get("Error", {})
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = info.get("Code") or "error"
        message = info.get("Message") or str(err)
        return f"{code} (HTTP {status}): {message}"
    if isinstance(err, BotoCoreError):
        return str(err)
    return None
