"""Operations: GET /health (details) and GET /metrics (Prometheus text format)."""

from __future__ import annotations

import sys
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from tsukeku import __version__
from tsukeku.serving import memory
from tsukeku.serving.deps import MetricsDep, Service

router = APIRouter(tags=["operations"])


@router.get("/health", summary="Server state: models, loading, queues, uptime")
async def health(service: Service) -> dict[str, Any]:
    """Per model also what it serves (a local model of a models file): `base` (as named),
    `adapter`, `weights` ("merged" | "base+adapter" | "base"), beside `supports_constraints`."""
    state = service.health()
    details = getattr(service.registry, "details", None)
    if details is not None:
        for model in state.get("models", []):
            model.update(details(model["name"]))
    torch = sys.modules.get("torch")  # loaded with the first local model; never imported here
    return {"version": __version__, **state,
            "torch_threads": torch.get_num_threads() if torch is not None else None,
            "malloc_mmap_threshold": memory.applied}


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
async def metrics(m: MetricsDep) -> Response:
    return Response(m.render(), media_type=m.content_type)
