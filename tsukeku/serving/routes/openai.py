"""OpenAI-compatible API over the composer: GET /v1/models, POST /v1/completions and
POST /v1/chat/completions (stock `openai` clients work with `base_url` pointed here).

Each candidate 付句 is one choice; the full composition (readings, mora counts, form check,
scores) rides along under the extra key `tsukeku`. With `stream: true` the answer comes as
server-sent events, one event per candidate (a verse is short, so no token streaming)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from tsukeku.generation.types import CompositionResult
from tsukeku.serving.body import read_payload, validate
from tsukeku.serving.deps import Service
from tsukeku.serving.errors import InvalidRequest
from tsukeku.serving.openai_schemas import ChatCompletionRequest, CompletionRequest
from tsukeku.serving.schemas import ERROR_RESPONSES

router = APIRouter(prefix="/v1", tags=["openai"])


def _body_doc(schema: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
        }
    }


@router.get("/models", summary="The models this server answers with")
async def list_models(service: Service) -> dict[str, Any]:
    service.resolve_model(None)  # 503 while loading
    created = int(service.started_at)
    return {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": created, "owned_by": "tsukeku"}
            for name in service.model_names()
        ],
    }


def _envelope(kind: str, model: str) -> dict[str, Any]:
    prefix = "chatcmpl" if kind == "chat.completion" else "cmpl"
    return {"id": f"{prefix}-{uuid.uuid4().hex}", "object": kind, "created": int(time.time()),
            "model": model}


def _sse(events: list[dict[str, Any]]) -> StreamingResponse:
    async def stream() -> AsyncIterator[str]:
        for event in events:
            yield f"data: {json.dumps(event, ensure_ascii=False)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


@router.post(
    "/completions",
    summary="OpenAI completions: prompt = 前句, each choice = one 付句",
    responses=ERROR_RESPONSES,
    openapi_extra=_body_doc("CompletionRequest"),
)
async def completions(request: Request, service: Service) -> Any:
    body = validate(CompletionRequest, await read_payload(request, allow_text=False))
    options = body.options()
    prompts = body.prompt if isinstance(body.prompt, list) else [body.prompt]
    model = service.resolve_model(body.model)
    # Several prompts go to the batcher together, so they share backend calls.
    results: list[CompositionResult] = await asyncio.gather(
        *(service.compose(model, options.request(p)) for p in prompts)
    )
    head = _envelope("text_completion", model)
    choices = []
    for result in results:
        for cand in result.candidates:
            choices.append({"index": len(choices), "text": cand.text, "logprobs": None,
                            "finish_reason": "stop"})
    extra = {"tsukeku": [r.to_dict() for r in results]}
    if body.stream:
        return _sse([{**head, "choices": [c]} for c in choices])
    return JSONResponse({**head, "choices": choices, **extra})


def _chain(messages: list[Any]) -> list[str]:
    turns = [m for m in messages if m.role in ("user", "assistant")]
    if not turns or turns[-1].role != "user":
        raise InvalidRequest("the last user/assistant message must be the user's 前句")
    chain = [m.text().strip() for m in turns]
    if not chain[-1]:
        raise InvalidRequest("the last user message is empty; send the 前句")
    return [verse for verse in chain if verse]


@router.post(
    "/chat/completions",
    summary="OpenAI chat completions: the conversation is the chain, the answer the 付句",
    responses=ERROR_RESPONSES,
    openapi_extra=_body_doc("ChatCompletionRequest"),
)
async def chat_completions(request: Request, service: Service) -> Any:
    body = validate(ChatCompletionRequest, await read_payload(request, allow_text=False))
    chain = _chain(body.messages)
    previous: str | list[str] = chain[0] if len(chain) == 1 else chain
    model = service.resolve_model(body.model)
    result = await service.compose(model, body.options().request(previous))
    head = _envelope("chat.completion", model)
    if body.stream:
        head["object"] = "chat.completion.chunk"
        events = [
            {**head, "choices": [{"index": i, "delta": {"role": "assistant", "content": c.text},
                                  "logprobs": None, "finish_reason": "stop"}]}
            for i, c in enumerate(result.candidates)
        ]
        return _sse(events)
    choices = [
        {"index": i, "message": {"role": "assistant", "content": c.text}, "logprobs": None,
         "finish_reason": "stop"}
        for i, c in enumerate(result.candidates)
    ]
    return JSONResponse({**head, "choices": choices, "tsukeku": result.to_dict()})
