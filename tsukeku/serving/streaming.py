"""Streamed answers shared by the OpenAI and SageMaker routes: the event streams of
`ComposeService.compose_stream` opened so that early failures are still HTTP errors, merged
when one HTTP request holds several prompts, and errors met after the status went out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from tsukeku.errors import TsukekuError
from tsukeku.generation.types import ComposeRequest

Events = AsyncIterator[tuple[str, Any]]


async def open_streams(service: Any, model: str, requests: list[ComposeRequest]
                       ) -> list[tuple[tuple[str, Any], Events]]:
    """Each request's event stream with its first event already read, so that what fails
    before any text (a full queue, a request the model refuses) is still an HTTP error."""
    streams = [service.compose_stream(model, r) for r in requests]
    try:
        firsts = await asyncio.gather(*(anext(s) for s in streams))
    except BaseException:
        for stream in streams:
            await stream.aclose()
        raise
    return list(zip(firsts, streams, strict=True))


async def merged(opened: list[tuple[tuple[str, Any], Events]]
                 ) -> AsyncIterator[tuple[int, str, Any]]:
    """(stream index, kind, payload) of several streams in the order the events come; the
    streams are closed (their requests cancelled) when the consumer stops early."""
    queue: asyncio.Queue[tuple[int, str, Any] | None] = asyncio.Queue()

    async def pump(i: int, first: tuple[str, Any], stream: Events) -> None:
        try:
            await queue.put((i, *first))
            async for kind, payload in stream:
                await queue.put((i, kind, payload))
        except Exception as err:  # after the first event: reported in the stream
            await queue.put((i, "error", err))
        finally:
            await stream.aclose()
            await queue.put(None)

    tasks = [asyncio.create_task(pump(i, f, s)) for i, (f, s) in enumerate(opened)]
    try:
        left = len(tasks)
        while left:
            item = await queue.get()
            if item is None:
                left -= 1
                continue
            yield item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def error_body(err: BaseException) -> dict[str, Any]:
    """An error after the stream began (status already sent): OpenAI's error object."""
    from tsukeku.serving.errors import domain_status

    if isinstance(err, TsukekuError):
        status, type_, _headers = domain_status(err)
        return {"message": str(err), "type": type_, "code": status}
    return {"message": "internal error", "type": "server_error", "code": 500}
