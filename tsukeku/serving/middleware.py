"""ASGI middleware of the server, outermost first:

1. `RequestContextMiddleware` — request id (X-Request-Id in and out), one structured access-log
   line and the Prometheus request metrics per request, and the last line of defence: any
   exception becomes a JSON 500 (logged with its traceback, never sent to the client).
2. CORS (Starlette's, only when origins are configured).
3. `BodyLimitMiddleware` — 413 for bodies over the limit, before they are read whole.
4. `DrainMiddleware` — 503 for new requests once shutdown has begun.

The API key is checked by an app-wide dependency (`tsukeku.serving.deps.require_api_key`).

They are plain ASGI (no BaseHTTPMiddleware) so that streaming bodies and responses pass through
untouched.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Callable

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tsukeku.serving.errors import error_response
from tsukeku.serving.logs import request_id_var
from tsukeku.serving.metrics import Metrics

access_log = logging.getLogger("tsukeku.serving.access")
log = logging.getLogger("tsukeku.serving")

_GOOD_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/+=@-]{1,128}$")


def _route_label(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get("x-request-id", "")
        request_id = incoming if _GOOD_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-Id"] = request_id
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.error("unhandled error", exc_info=True, extra={"path": scope.get("path")})
            if not response_started:
                response = error_response(
                    500, "internal_error",
                    f"the server failed to answer this request (request id {request_id}); "
                    "it has been logged",
                )
                await response(scope, receive, send_with_id)
        finally:
            self.metrics.in_flight.dec()
            elapsed = time.perf_counter() - started
            route, method = _route_label(scope), scope.get("method", "")
            self.metrics.requests.labels(route, method, str(status)).inc()
            self.metrics.latency.labels(route, method).observe(elapsed)
            access_log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": method,
                    "path": scope.get("path"),
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                    "client": (scope.get("client") or ("", 0))[0],
                },
            )
            request_id_var.reset(token)


class _BodyTooLarge(HTTPException):
    """Raised from `receive` while a chunked body grows past the limit. An HTTPException so that
    FastAPI's body reading passes it through unchanged (it wraps other errors into a 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over the {limit} byte limit")


class BodyLimitMiddleware:
    """413 for a body over `max_bytes`: at once when Content-Length says so, else as soon as a
    chunked body grows past it. Before the answer is finished, the rest of the body is read and
    dropped (up to `drain_factor` × the limit, for at most `drain_timeout_s`): a client that
    writes its whole body before reading (Python's urllib, anything on http.client) would
    otherwise be cut off by the close and see "connection reset" instead of the 413. The 413
    itself goes out first, so a client that reads while it writes sees it at once."""

    def __init__(self, app: ASGIApp, max_bytes: int, *, drain_factor: float = 2.0,
                 drain_timeout_s: float = 30.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.drain_bytes = int(drain_factor * max_bytes)
        self.drain_timeout_s = drain_timeout_s

    def _message(self) -> str:
        mib = self.max_bytes / (1024 * 1024)
        return f"the request body is over the {mib:g} MiB limit ({self.max_bytes} bytes); send less"

    async def _drain(self, receive: Receive, received: int) -> None:
        try:
            async with asyncio.timeout(self.drain_timeout_s):
                while received <= self.drain_bytes:
                    message = await receive()
                    if message["type"] != "http.request":
                        return  # the client went away
                    received += len(message.get("body", b""))
                    if not message.get("more_body", False):
                        return
        except TimeoutError:
            return

    def _draining_send(self, send: Send, receive: Receive, received: Callable[[], int]) -> Send:
        """`send` that holds the end of the answer until the body has been drained."""

        async def draining_send(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                await send({**message, "more_body": True})
                await self._drain(receive, received())
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await send(message)

        return draining_send

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        # A client that waits for "100 Continue" sends no body after a 413: nothing to drain.
        drains = headers.get("expect", "").lower() != "100-continue"
        declared = headers.get("content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await error_response(400, "bad_request", "Content-Length is not a number")(
                    scope, receive, send
                )
                return
            if size > self.max_bytes:  # answered before reading a byte of the body
                reply = error_response(413, "payload_too_large", self._message())
                if drains and size <= self.drain_bytes:
                    send = self._draining_send(send, receive, lambda: 0)
                await reply(scope, receive, send)
                return

        received = 0
        over = False
        response_started = False

        async def counted_receive() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    over = True
                    raise _BodyTooLarge(self.max_bytes)
            return message

        draining_send = self._draining_send(send, receive, lambda: received)

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            # The 413 (from here or from the app's handler for _BodyTooLarge) drains the body.
            await (draining_send if over and drains else send)(message)

        try:
            await self.app(scope, counted_receive, tracking_send)
        except _BodyTooLarge:
            if response_started:
                raise
            reply = error_response(413, "payload_too_large", self._message())
            await reply(scope, receive, tracking_send)


class DrainMiddleware:
    """Once shutdown has begun, new requests get 503 (with Retry-After) while those already in
    flight finish; /health and /metrics keep answering so that the drain can be watched."""

    def __init__(
        self, app: ASGIApp, is_draining: Callable[[], bool], open_paths: frozenset[str],
        retry_after_s: int = 1,
    ) -> None:
        self.app = app
        self.is_draining = is_draining
        self.open_paths = open_paths
        self.retry_after_s = retry_after_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.is_draining() and scope["path"] not in self.open_paths:
            response = error_response(
                503, "unavailable", "the server is shutting down; retry on another instance",
                headers={"Retry-After": str(self.retry_after_s), "Connection": "close"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
