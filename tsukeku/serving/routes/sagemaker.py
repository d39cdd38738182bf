"""The SageMaker container contract: GET /ping, POST /invocations, and the SageMaker Runtime
paths POST /endpoints/{name}/invocations and /endpoints/{name}/invocations-response-stream (so
boto3's `sagemaker-runtime` client pointed at this server with `endpoint_url` works unchanged,
`invoke_endpoint_with_response_stream` included).

Streaming: /invocations answers chunked JSON Lines (one event per line, sent as the candidates
are decoded) when the client accepts `application/jsonlines` (Accept, or SageMaker's
X-Amzn-SageMaker-Accept) — what SageMaker turns into InvokeEndpointWithResponseStream's
PayloadPart events; the response-stream path frames the same lines as AWS event-stream
messages itself (`tsukeku.serving.eventstream`). Lines: {"event": "delta"|"restart"|
"candidate", "slot": i, "text": ...}, last {"event": "done", "result": <the /invocations
answer>} (or {"event": "error", "error": {...}})."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from tsukeku.generation.types import ComposeRequest
from tsukeku.serving.body import check_accept_json, read_payload, validate
from tsukeku.serving.deps import Service
from tsukeku.serving.errors import InvalidRequest
from tsukeku.serving.eventstream import STREAM_MEDIA_TYPE, model_stream_error, payload_part
from tsukeku.serving.schemas import (
    ERROR_RESPONSES,
    MAX_VERSE_CHARS,
    InvocationRequest,
    InvocationResponse,
    invocation_response,
)
from tsukeku.serving.streaming import error_body, merged, open_streams

router = APIRouter(tags=["sagemaker"])

# Documented by hand because the body is read by `read_payload` (JSON object, JSON string or
# text/plain), not by FastAPI's single-model body parsing.
INVOCATION_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        {"$ref": "#/components/schemas/InvocationRequest"},
                        {"type": "string", "minLength": 1, "maxLength": MAX_VERSE_CHARS,
                         "description": "the 前句 alone"},
                    ]
                },
                "example": {
                    "inputs": "霞たつ 野辺の若菜を 摘みに出て",
                    "parameters": {"n": 3, "constrained": True, "temperature": 0.8},
                },
            },
            "text/plain": {
                "schema": {"type": "string", "minLength": 1, "maxLength": MAX_VERSE_CHARS},
                "example": "霞たつ 野辺の若菜を 摘みに出て",
            },
        },
    }
}


@router.get(
    "/ping",
    summary="Health check of the SageMaker contract",
    responses={503: ERROR_RESPONSES[503]},
)
async def ping(service: Service) -> JSONResponse:
    """200 once the models are loaded, 503 while they load (or after shutdown has begun)."""
    if service.ready:
        return JSONResponse({"status": "ok"})
    return JSONResponse(
        {"status": service.state, "error": service.load_error}, status_code=503,
        headers={"Retry-After": str(service.settings.retry_after_s)},
    )


STREAM_TYPES = ("application/jsonlines", "application/x-ndjson", "application/json-seq")
EVENT_NAMES = {"delta": "delta", "restart": "restart", "slot": "candidate"}


def wants_stream(request: Request) -> bool:
    accept = request.headers.get("x-amzn-sagemaker-accept") or request.headers.get("accept", "")
    return any(part.split(";")[0].strip().lower() in STREAM_TYPES for part in accept.split(","))


async def _parse(request: Request, model_hint: str | None) -> tuple[str | None, ComposeRequest]:
    payload = await read_payload(request, allow_text=True)
    if isinstance(payload, str | list):
        payload = {"inputs": payload}
    if not isinstance(payload, dict):
        raise InvalidRequest(
            'send {"inputs": "<前句>", "parameters": {...}}, a JSON string or text/plain'
        )
    body = validate(InvocationRequest, payload)
    return body.parameters.model or model_hint, body.parameters.request(body.inputs)


async def _lines(service: Service, model: str | None, compose: ComposeRequest
                 ) -> AsyncIterator[dict[str, Any]]:
    """The JSON Lines (as dicts) of one streamed request, its first event read before any is
    sent, so what fails early is still an HTTP error."""
    name = service.resolve_model(model)
    opened = await open_streams(service, name, [compose])

    async def lines() -> AsyncIterator[dict[str, Any]]:
        async for _i, kind, payload in merged(opened):
            if kind == "error":
                line: dict[str, Any] = {"event": "error", "error": error_body(payload)}
            elif kind == "done":
                line = {"event": "done", "result": invocation_response(payload)}
            else:
                slot, text = payload
                line = {"event": EVENT_NAMES[kind], "slot": slot, "text": text}
            yield line

    return lines()


def _encode(line: dict[str, Any]) -> bytes:
    return (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")


async def _invoke(request: Request, service: Service, model_hint: str | None) -> Response:
    if wants_stream(request):
        model, compose = await _parse(request, model_hint)
        lines = await _lines(service, model, compose)

        async def body() -> AsyncIterator[bytes]:
            async for line in lines:
                yield _encode(line)

        return StreamingResponse(body(), media_type="application/jsonlines",
                                 headers={"X-Accel-Buffering": "no"})
    check_accept_json(request)
    model, compose = await _parse(request, model_hint)
    result = await service.compose(model, compose)
    return JSONResponse(invocation_response(result))


@router.post(
    "/invocations",
    summary="Compose 付句 for a 前句 (SageMaker container contract)",
    response_model=InvocationResponse,
    responses=ERROR_RESPONSES,
    openapi_extra=INVOCATION_BODY,
)
async def invocations(request: Request, service: Service) -> Response:
    """Body `{"inputs": "<前句>", "parameters": {...}}`, a bare JSON string, or text/plain.
    With `Accept: application/jsonlines` the answer streams (chunked JSON Lines)."""
    return await _invoke(request, service, request.headers.get("x-amzn-sagemaker-target-model"))


@router.post(
    "/endpoints/{name}/invocations",
    summary="The SageMaker Runtime InvokeEndpoint path",
    response_model=InvocationResponse,
    responses=ERROR_RESPONSES,
    openapi_extra=INVOCATION_BODY,
)
async def endpoint_invocations(name: str, request: Request, service: Service) -> Response:
    """Same as /invocations. This server is the endpoint, so `name` is accepted as is; when it
    equals one of the server's model names (or `TargetModel` is given), that model answers."""
    response = await _invoke(request, service, _hint(name, request, service))
    response.headers["X-Amzn-Invoked-Production-Variant"] = "AllTraffic"
    return response


def _hint(name: str, request: Request, service: Service) -> str | None:
    hint = request.headers.get("x-amzn-sagemaker-target-model")
    if hint is None and service.ready and name in service.model_names():
        hint = name
    return hint


@router.post(
    "/endpoints/{name}/invocations-response-stream",
    summary="The SageMaker Runtime InvokeEndpointWithResponseStream path",
    responses={**ERROR_RESPONSES, 200: {
        "description": "AWS event-stream messages: PayloadPart events, each holding JSON Lines",
        "content": {STREAM_MEDIA_TYPE: {}}}},
    openapi_extra=INVOCATION_BODY,
)
async def endpoint_invocations_stream(name: str, request: Request,
                                      service: Service) -> StreamingResponse:
    """The streamed answer of /invocations (JSON Lines), each line in one PayloadPart event of
    the AWS event-stream framing; an error after the stream began is a ModelStreamError."""
    model, compose = await _parse(request, _hint(name, request, service))
    lines = await _lines(service, model, compose)

    async def events() -> AsyncIterator[bytes]:
        async for line in lines:
            if line["event"] == "error":
                yield model_stream_error(line["error"]["message"], str(line["error"]["code"]))
                return
            yield payload_part(_encode(line))

    return StreamingResponse(events(), media_type=STREAM_MEDIA_TYPE, headers={
        "X-Amzn-SageMaker-Content-Type": "application/jsonlines",
        "X-Amzn-Invoked-Production-Variant": "AllTraffic"})
