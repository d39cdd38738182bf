"""What routes receive through FastAPI dependencies (`Depends(get_service)` …) instead of reading
the app's state themselves. `create_app` and its lifespan put each object on `app.state` once;
these functions are the only readers. Tests and embedders may replace any of them with
`app.dependency_overrides`, or set `app.state.arena_store` / `app.state.arena_limiter` before the
app starts."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import Depends, Request

from tsukeku.arena.ratelimit import RateLimiter
from tsukeku.arena.store import ArenaStore
from tsukeku.errors import Unavailable
from tsukeku.serving.errors import Unauthorized
from tsukeku.serving.metrics import Metrics
from tsukeku.serving.service import ComposeService, Registry
from tsukeku.serving.settings import ServeSettings
from tsukeku.sessions import SessionService
from tsukeku.store import Store as DataStore

# Paths answered without the API key: the health check load balancers call, and the docs.
OPEN_PATHS = frozenset({"/ping", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"})


def get_settings(request: Request) -> ServeSettings:
    return request.app.state.settings


def get_service(request: Request) -> ComposeService:
    return request.app.state.service


def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


def get_registry(request: Request) -> Registry:
    """The app's model registry; Unavailable (503) while the server is still loading it."""
    registry = getattr(request.app.state, "registry", None)
    if registry is None:
        raise Unavailable("the models are still loading; retry shortly", retry_after_s=1)
    return registry


def _not_open(request: Request) -> Unavailable:
    reason = getattr(request.app.state, "arena_error", "the server has not started")
    return Unavailable(f"the database is not open ({reason}); set TSUKEKU_DATABASE_URL to a "
                       "reachable PostgreSQL or TSUKEKU_ARENA_DB to a writable file and restart")


def get_arena_store(request: Request) -> ArenaStore:
    """The arena database, opened by the app's lifespan."""
    store = request.app.state.arena_store
    if store is None:
        raise _not_open(request)
    return store


def get_store(request: Request) -> DataStore:
    """The whole store (arena, sessions, events), opened by the app's lifespan."""
    store = getattr(request.app.state, "store", None)
    if store is None:
        raise _not_open(request)
    return store


def get_sessions(request: Request) -> SessionService:
    """The renga session service, opened by the app's lifespan over the store."""
    sessions = getattr(request.app.state, "sessions", None)
    if sessions is None:
        reason = getattr(request.app.state, "sessions_error", "the server has not started")
        raise Unavailable(f"renga sessions are not available ({reason}); check the database "
                          "setting (TSUKEKU_DATABASE_URL or TSUKEKU_ARENA_DB) and restart")
    return sessions


def get_vote_limiter(request: Request) -> RateLimiter:
    return request.app.state.arena_limiter


def get_arena_cache(request: Request) -> dict[str, Any]:
    """Per-app memo of the arena's derived data (the leaderboard)."""
    return request.app.state.arena_cache


def authorized(request: Request) -> bool:
    """True when the server has no key, the path is open, the request is a CORS preflight, or
    the request carries the key (`Authorization: Bearer KEY` or `X-Api-Key: KEY`)."""
    key = get_settings(request).api_key
    if not key or request.url.path in OPEN_PATHS:
        return True
    headers = request.headers
    if request.method == "OPTIONS" and "access-control-request-method" in headers:
        return True
    given = headers.get("x-api-key")
    if given is None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        given = token.strip() if scheme.lower() == "bearer" else None
    return given is not None and secrets.compare_digest(given.encode(), key.encode())


UNAUTHORIZED = ("this server needs an API key: send 'Authorization: Bearer KEY' or "
                "'X-Api-Key: KEY'")


def require_api_key(request: Request) -> None:
    """The app-wide dependency: 401 without the key when the server has one."""
    if not authorized(request):
        raise Unauthorized(UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})


# For route signatures: `service: Service`.
Settings = Annotated[ServeSettings, Depends(get_settings)]
Service = Annotated[ComposeService, Depends(get_service)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
LoadedRegistry = Annotated[Registry, Depends(get_registry)]
Store = Annotated[ArenaStore, Depends(get_arena_store)]
OpenStore = Annotated[DataStore, Depends(get_store)]  # arena + sessions + events
VoteLimiter = Annotated[RateLimiter, Depends(get_vote_limiter)]
ArenaCache = Annotated[dict[str, Any], Depends(get_arena_cache)]
Sessions = Annotated[SessionService, Depends(get_sessions)]
