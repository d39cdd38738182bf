"""Every error the server answers is JSON `{"error": {"type", "message"}}`, never a traceback.

Routes and the service raise `ServiceError`; the handlers in `tsukeku.serving.app` turn it (and
FastAPI's and Starlette's own errors) into that shape. The `message` says what to do.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse


class ServiceError(Exception):
    status = 500
    type = "internal_error"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class BadRequest(ServiceError):
    status, type = 400, "bad_request"


class Unauthorized(ServiceError):
    status, type = 401, "unauthorized"


class NotAcceptable(ServiceError):
    status, type = 406, "not_acceptable"


class PayloadTooLarge(ServiceError):
    status, type = 413, "payload_too_large"


class UnsupportedMediaType(ServiceError):
    status, type = 415, "unsupported_media_type"


class InvalidRequest(ServiceError):
    status, type = 422, "invalid_request"


class QueueFull(ServiceError):
    status, type = 429, "queue_full"


class UpstreamError(ServiceError):
    """A remote model service (OpenAI-compatible, SageMaker, Bedrock) failed."""

    status, type = 502, "upstream_error"


class Unavailable(ServiceError):
    status, type = 503, "unavailable"


class GenerationTimeout(ServiceError):
    status, type = 504, "timeout"


# Status codes Starlette raises itself (routing, methods) mapped to our error types.
HTTP_TYPES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "queue_full",
    502: "upstream_error",
    503: "unavailable",
    504: "timeout",
}


def error_body(type_: str, message: str) -> dict[str, Any]:
    return {"error": {"type": type_, "message": message}}


def error_response(
    status: int, type_: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(type_, message), status_code=status, headers=headers)
