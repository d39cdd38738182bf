"""The SageMaker container contract: GET /ping, POST /invocations, and the SageMaker Runtime
path POST /endpoints/{name}/invocations (so boto3's `sagemaker-runtime` client pointed at this
server with `endpoint_url` works unchanged)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from tsukeku.serving.body import check_accept_json, read_payload, validate
from tsukeku.serving.deps import Service
from tsukeku.serving.errors import InvalidRequest
from tsukeku.serving.schemas import (
    ERROR_RESPONSES,
    MAX_VERSE_CHARS,
    InvocationRequest,
    InvocationResponse,
    invocation_response,
)

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


async def _invoke(request: Request, service: Service, model_hint: str | None) -> JSONResponse:
    check_accept_json(request)
    payload = await read_payload(request, allow_text=True)
    if isinstance(payload, str | list):
        payload = {"inputs": payload}
    if not isinstance(payload, dict):
        raise InvalidRequest(
            'send {"inputs": "<前句>", "parameters": {...}}, a JSON string or text/plain'
        )
    body = validate(InvocationRequest, payload)
    model = body.parameters.model or model_hint
    result = await service.compose(model, body.parameters.request(body.inputs))
    return JSONResponse(invocation_response(result))


@router.post(
    "/invocations",
    summary="Compose 付句 for a 前句 (SageMaker container contract)",
    response_model=InvocationResponse,
    responses=ERROR_RESPONSES,
    openapi_extra=INVOCATION_BODY,
)
async def invocations(request: Request, service: Service) -> JSONResponse:
    """Body `{"inputs": "<前句>", "parameters": {...}}`, a bare JSON string, or text/plain."""
    return await _invoke(request, service, request.headers.get("x-amzn-sagemaker-target-model"))


@router.post(
    "/endpoints/{name}/invocations",
    summary="The SageMaker Runtime InvokeEndpoint path",
    response_model=InvocationResponse,
    responses=ERROR_RESPONSES,
    openapi_extra=INVOCATION_BODY,
)
async def endpoint_invocations(name: str, request: Request, service: Service) -> JSONResponse:
    """Same as /invocations. This server is the endpoint, so `name` is accepted as is; when it
    equals one of the server's model names (or `TargetModel` is given), that model answers."""
    hint = request.headers.get("x-amzn-sagemaker-target-model")
    if hint is None and service.ready and name in service.model_names():
        hint = name
    response = await _invoke(request, service, hint)
    response.headers["X-Amzn-Invoked-Production-Variant"] = "AllTraffic"
    return response
