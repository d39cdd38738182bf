"""The app factory: `create_app(registry, settings) -> FastAPI`.

`registry` is a mapping of names to ready backends (served at once), a model registry
(`names()` / `get(name)`, as `tsukeku.backends.load_models_file` returns), or a zero-argument
callable that builds one. A registry's models are loaded (and local ones warmed up) in a worker
thread at startup; /ping answers 503 until that is done, and `app.state.registry` is set then.
The lifespan also opens the arena database and the vote limiter (unless set on `app.state`
before start). Routes get all of these through `tsukeku.serving.deps`.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware

from tsukeku import __version__
from tsukeku.errors import TsukekuError, explain_validation
from tsukeku.generation.types import Backend
from tsukeku.serving.deps import UNAUTHORIZED, authorized, require_api_key
from tsukeku.serving.errors import HTTP_TYPES, ServiceError, domain_status, error_body
from tsukeku.serving.metrics import Metrics
from tsukeku.serving.middleware import (
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

# The web page's routers (owned by the web area); included when installed.
OPTIONAL_ROUTERS = ("tsukeku.serving.routes.ui", "tsukeku.serving.routes.arena",
                    "tsukeku.serving.routes.sessions")


def create_app(
    registry: Registry | Mapping[str, Backend] | Callable[[], Any],
    settings: ServeSettings | None = None,
    *,
    database_url: str | None = None,
) -> FastAPI:
    settings = settings or ServeSettings()
    metrics = Metrics()
    service = ComposeService(settings, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await _open_arena(app, database_url)
        await _open_sessions(app, service)
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
            if app.state.sessions is not None:
                await app.state.sessions.close()  # models' turns and live streams end
            if not await service.wait_idle(settings.shutdown_grace_s):
                log.warning("shutdown grace over; requests still in flight are cut",
                            extra={"in_flight": service.in_flight})
            if loading is not None and not loading.done():
                loading.cancel()
            await service.close()
            if app.state.store_owned and app.state.store is not None:
                await asyncio.to_thread(app.state.store.close)

    app = FastAPI(
        title="tsukeku",
        version=__version__,
        summary="付句 composition endpoint: SageMaker container contract and OpenAI-compatible API",
        lifespan=lifespan,
        dependencies=[Depends(require_api_key)],  # 401 without the key when there is one
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.service = service
    app.state.registry = None  # the model registry, once loaded (the web page's routes use it)
    app.state.store_owned = False  # whether the lifespan opened it (and closes it)
    app.state.arena_store = None  # the store's arena unless set before start
    app.state.arena_limiter = None
    app.state.arena_cache = {}
    app.state.store = None  # the store (tsukeku.store), opened by the lifespan unless set
    app.state.sessions = None  # renga sessions over the store

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


async def _open_arena(app: FastAPI, database_url: str | None) -> None:
    """The store (arena and sessions: `database_url`, else $TSUKEKU_DATABASE_URL, else the SQLite
    file) and the vote limiter, unless given before start. A database that cannot be opened
    leaves the arena and sessions answering 503 and the rest of the server up."""
    from sqlalchemy.exc import SQLAlchemyError

    from tsukeku.arena.ratelimit import RateLimiter, votes_per_minute_from_env
    from tsukeku.store import open_store

    if app.state.arena_limiter is None:
        app.state.arena_limiter = RateLimiter(votes_per_minute_from_env(), 60.0)
    if app.state.store is None and app.state.arena_store is None:
        try:
            app.state.store = await asyncio.to_thread(open_store, database_url)
            app.state.store_owned = True
        except (OSError, TsukekuError, sqlite3.Error, SQLAlchemyError) as err:
            app.state.arena_error = f"{type(err).__name__}: {err}"
            log.warning("the database could not be opened; the arena and sessions answer 503",
                        exc_info=True)
    if app.state.arena_store is None and app.state.store is not None:
        app.state.arena_store = app.state.store.arena


async def _open_sessions(app: FastAPI, service: ComposeService) -> None:
    """Renga sessions over the store (`app.state.store`, opened by `_open_arena` unless set before
    start); models' turns compose through the engine. Without a store the session routes answer
    503."""
    from tsukeku.sessions import SessionService

    if app.state.sessions is not None:
        return
    store = app.state.store
    if store is None:
        app.state.sessions_error = getattr(app.state, "arena_error", "no store is open")
        return
    app.state.sessions = SessionService(store.sessions, service.compose, events=store.events)


def _for_client(request: Request, status: int, type_: str, message: str,
                headers: dict[str, str] | None = None) -> JSONResponse:
    if status != 401 and not authorized(request):
        # The key comes first, also where FastAPI fails a request before its dependencies
        # run (unknown path, wrong method, unparsable body).
        status, type_, message, headers = 401, "unauthorized", UNAUTHORIZED, {
            "WWW-Authenticate": "Bearer"}
    body = error_body(type_, message)
    if request.url.path.startswith("/endpoints/"):
        # What botocore reads from a SageMaker Runtime error: ClientError's Code and Message.
        body.update({"__type": type_, "message": message})
    return JSONResponse(body, status_code=status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, err: ServiceError) -> JSONResponse:
        return _for_client(request, err.status, err.type, err.message, err.headers)

    @app.exception_handler(TsukekuError)
    async def _domain_error(request: Request, err: TsukekuError) -> JSONResponse:
        status, type_, headers = domain_status(err)
        return _for_client(request, status, type_, str(err), headers)

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
        return _for_client(request, 422, "invalid_request", explain_validation(err, limit=5))


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
