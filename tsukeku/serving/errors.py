"""Every error the server answers is JSON `{"error": {"type", "message"}}`, never a traceback.

Two kinds of errors reach the client:
- the engine's domain errors (`tsukeku.errors`: QueueFull, Unavailable, GenerationTimeout, the
  backends' BackendError, and any other TsukekuError for input a backend refused), mapped to a
  status code by `domain_status` — the engine itself knows nothing of HTTP;
- the HTTP layer's own `ServiceError`s (malformed bodies, content types, keys, route-level
  conflicts), which carry their status.
The handlers in `tsukeku.serving.app` turn both (and FastAPI's and Starlette's own errors) into
that shape. The `message` says what to do.
"""

from __future__ import annotations

import math
from typing import Any

from starlette.responses import JSONResponse

from tsukeku.errors import GenerationTimeout, QueueFull, TsukekuError, Unavailable


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


def _domain_table() -> tuple[tuple[type[TsukekuError], int, str], ...]:
    from tsukeku.backends.base import BackendError  # a remote model service failed
    from tsukeku.sessions import errors as session
    from tsukeku.store import errors as store

    # Most specific first: QueueFull is an Unavailable, everything is a TsukekuError.
    return (
        (QueueFull, 429, "queue_full"),
        (store.SessionNotFound, 404, "not_found"),
        (store.SeatConflict, 409, "seat_taken"),
        (session.SeatTaken, 409, "seat_taken"),
        (session.NotYourTurn, 409, "not_your_turn"),
        (session.NameTaken, 409, "name_taken"),
        (store.SessionClosed, 409, "session_closed"),
        (session.SessionOver, 409, "session_closed"),
        (session.Forbidden, 403, "forbidden"),
        (session.LimitReached, 429, "limit_reached"),
        (session.RuleBroken, 422, "rule_broken"),
        (session.ModelTurnFailed, 502, "model_failed"),
        (Unavailable, 503, "unavailable"),
        (GenerationTimeout, 504, "timeout"),
        (BackendError, 502, "upstream_error"),
        (TsukekuError, 422, "invalid_request"),  # input a backend refused (unreadable text …)
    )


def domain_status(err: TsukekuError) -> tuple[int, str, dict[str, str]]:
    """The status code, error type and headers answering a domain error."""
    headers: dict[str, str] = {}
    retry_after = getattr(err, "retry_after_s", None)
    if retry_after is not None:
        headers["Retry-After"] = str(math.ceil(retry_after))
    for cls, status, type_ in _domain_table():
        if isinstance(err, cls):
            return status, type_, headers
    raise AssertionError("unreachable: TsukekuError is the last row")


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
