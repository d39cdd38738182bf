"""OpenAI-compatible API over the composer: GET /v1/models, POST /v1/completions and
POST /v1/chat/completions (stock `openai` clients work with `base_url` pointed here).

Each candidate 付句 is one choice; the full composition (readings, mora counts, form check,
scores) rides along under the extra key `tsukeku`. With `stream: true` the answer comes as
server-sent events in OpenAI's chunk format, token by token as the candidates are decoded
(choice i follows candidate slot i; `ComposeService.compose_stream`): each chunk adds text to a
choice, a choice ends with `finish_reason: "stop"`, and the last chunk before `data: [DONE]` has
no choices and carries the form report under `tsukeku`. In the rare case that a streamed verse
fails the final form check and another takes its slot, that chunk's choice says
`"tsukeku": {"restart": true}` and its text replaces the choice's text so far."""

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
from tsukeku.serving.streaming import Events, error_body, merged, open_streams

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
    prefix = "chatcmpl" if kind.startswith("chat.completion") else "cmpl"
    return {"id": f"{prefix}-{uuid.uuid4().hex}", "object": kind, "created": int(time.time()),
            "model": model}


def _sse(chunks: AsyncIterator[dict[str, Any]]) -> StreamingResponse:
    async def stream() -> AsyncIterator[str]:
        async for chunk in chunks:
            yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
            if "error" in chunk:
                return
        yield "data: [DONE]\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _chunks(opened: list[tuple[tuple[str, Any], Events]], head: dict[str, Any], n: int,
                  chat: bool) -> AsyncIterator[dict[str, Any]]:
    """OpenAI chunks for the events of every prompt's stream (prompt p, slot s → choice
    p·n + s); the last chunk carries the form reports."""
    reports: list[Any] = [None] * len(opened)
    started: set[int] = set()

    def choice(index: int, text: str | None, finish: str | None) -> dict[str, Any]:
        if chat:
            delta: dict[str, Any] = {} if text is None else {"content": text}
            if index not in started:
                started.add(index)
                delta = {"role": "assistant", **delta}
            return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {"index": index, "text": text or "", "logprobs": None, "finish_reason": finish}

    async for i, kind, payload in merged(opened):
        if kind == "error":
            yield {"error": error_body(payload)}
            return
        if kind == "done":
            reports[i] = payload.to_dict()
            continue
        slot, text = payload
        index = i * n + slot
        if kind == "delta":
            yield {**head, "choices": [choice(index, text, None)]}
        elif kind == "restart":
            yield {**head, "choices": [{**choice(index, text, None),
                                        "tsukeku": {"restart": True}}]}
        elif kind == "slot":
            yield {**head, "choices": [choice(index, None, "stop")]}
    yield {**head, "choices": [], "tsukeku": reports if not chat else reports[0]}


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
    head = _envelope("text_completion", model)
    if body.stream:
        opened = await open_streams(service, model, [options.request(p) for p in prompts])
        return _sse(_chunks(opened, head, options.n, chat=False))
    # Several prompts go to the batcher together, so they share backend calls.
    results: list[CompositionResult] = await asyncio.gather(
        *(service.compose(model, options.request(p)) for p in prompts)
    )
    choices = []
    for result in results:
        for cand in result.candidates:
            choices.append({"index": len(choices), "text": cand.text, "logprobs": None,
                            "finish_reason": "stop"})
    extra = {"tsukeku": [r.to_dict() for r in results]}
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
    request_ = body.options().request(previous)
    if body.stream:
        opened = await open_streams(service, model, [request_])
        head = _envelope("chat.completion.chunk", model)
        return _sse(_chunks(opened, head, request_.n, chat=True))
    result = await service.compose(model, request_)
    head = _envelope("chat.completion", model)
    choices = [
        {"index": i, "message": {"role": "assistant", "content": c.text}, "logprobs": None,
         "finish_reason": "stop"}
        for i, c in enumerate(result.candidates)
    ]
    return JSONResponse({**head, "choices": choices, "tsukeku": result.to_dict()})
