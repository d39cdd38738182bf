"""The app factory: `create_app(registry, settings) -> FastAPI`.

`registry` is a mapping of names to ready backends (served at once), a model registry
(`names()` / `get(name)`, as `tsukeku.backends.load_models_file` returns), or a zero-argument
callable that builds one. A registry's models are loaded (and local ones warmed up) in a worker
thread at startup; /ping answers 503 until that is done, and `app.state.registry` is set then.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware

from tsukeku import __version__
from tsukeku.generation.types import Backend
from tsukeku.serving.errors import HTTP_TYPES, ServiceError, error_body
from tsukeku.serving.metrics import Metrics
from tsukeku.serving.middleware import (
    ApiKeyMiddleware,
    BodyLimitMiddleware,
    DrainMiddleware,
    RequestContextMiddleware,
)
from tsukeku.serving.openai_schemas import ChatCompletionRequest, CompletionRequest
from tsukeku.serving.routes import openai, ops, sagemaker
from tsukeku.serving.schemas import InvocationRequest
from tsukeku.serving.service import ComposeService, Registry
from tsukeku.serving.settings import ServeSettings

log = logging.getLogger("tsukeku.serving")

OPEN_PATHS = frozenset({"/ping", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"})
# The web page's routers (owned by the web area); included when installed.
OPTIONAL_ROUTERS = ("tsukeku.serving.routes.ui", "tsukeku.serving.routes.arena")


def create_app(
    registry: Registry | Mapping[str, Backend] | Callable[[], Any],
    settings: ServeSettings | None = None,
) -> FastAPI:
    settings = settings or ServeSettings()
    metrics = Metrics()
    service = ComposeService(settings, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loading: asyncio.Task[None] | None = None
        if isinstance(registry, Mapping):  # backends built already: ready at once
            service.attach(registry)
            app.state.registry = service.registry
        else:  # a registry (whose models load on first use) or a loader: in the background

            async def load() -> None:
                await service.load(registry)
                app.state.registry = service.registry

            loading = asyncio.create_task(load())
        app.state.registry_task = loading
        try:
            yield
        finally:
            service.begin_drain()
            if not await service.wait_idle(settings.shutdown_grace_s):
                log.warning("shutdown grace over; requests still in flight are cut",
                            extra={"in_flight": service.in_flight})
            if loading is not None and not loading.done():
                loading.cancel()
            await service.close()

    app = FastAPI(
        title="tsukeku",
        version=__version__,
        summary="付句 composition endpoint: SageMaker container contract and OpenAI-compatible API",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.service = service
    app.state.registry = None  # the model registry, once loaded (the web page's routes use it)

    _install_error_handlers(app)
    app.include_router(sagemaker.router)
    app.include_router(openai.router)
    app.include_router(ops.router)
    for module_name in OPTIONAL_ROUTERS:
        if importlib.util.find_spec(module_name) is not None:
            app.include_router(importlib.import_module(module_name).router)

    # add_middleware wraps: the last added runs first.
    app.add_middleware(DrainMiddleware, is_draining=lambda: service.state == "draining",
                       open_paths=frozenset({"/health", "/metrics"}),
                       retry_after_s=settings.retry_after_s)
    if settings.api_key:
        app.add_middleware(ApiKeyMiddleware, api_key=settings.api_key, open_paths=OPEN_PATHS)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Api-Key", "X-Request-Id"],
            expose_headers=["X-Request-Id", "Retry-After"],
        )
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _for_client(request: Request, status: int, type_: str, message: str,
                headers: dict[str, str] | None = None) -> JSONResponse:
    body = error_body(type_, message)
    if request.url.path.startswith("/endpoints/"):
        # What botocore reads from a SageMaker Runtime error: ClientError's Code and Message.
        body.update({"__type": type_, "message": message})
    return JSONResponse(body, status_code=status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, err: ServiceError) -> JSONResponse:
        return _for_client(request, err.status, err.type, err.message, err.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        return _for_client(
            request, err.status_code, HTTP_TYPES.get(err.status_code, "http_error"),
            str(err.detail), dict(err.headers or {}),
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, err: RequestValidationError) -> JSONResponse:
        errors = err.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return _for_client(request, 400, "bad_request", "malformed JSON body")
        parts = [
            ".".join(str(p) for p in e.get("loc", ())) + f": {e.get('msg')}" for e in errors[:5]
        ]
        return _for_client(request, 422, "invalid_request", "; ".join(parts))


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, summary=app.summary, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    # Bodies read by hand (see routes) are documented here so that clients and schemathesis
    # see their shapes.
    for model in (InvocationRequest, CompletionRequest, ChatCompletionRequest):
        full = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in full.pop("$defs", {}).items():
            components.setdefault(name, sub)
        components[model.__name__] = full
    app.openapi_schema = schema
    return schema
