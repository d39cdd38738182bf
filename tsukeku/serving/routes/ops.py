"""Operations: GET /health (details) and GET /metrics (Prometheus text format)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from tsukeku import __version__
from tsukeku.serving.deps import MetricsDep, Service

router = APIRouter(tags=["operations"])


@router.get("/health", summary="Server state: models, loading, queues, uptime")
async def health(service: Service) -> dict[str, Any]:
    return {"version": __version__, **service.health()}


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
async def metrics(m: MetricsDep) -> Response:
    return Response(m.render(), media_type=m.content_type)
