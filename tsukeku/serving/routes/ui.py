"""The booth page at `/`, its static assets, and the small JSON API it calls.

- `GET /` — the page (plain HTML + ES modules from `tsukeku/serving/static`, no build step).
- `GET /static/{path}` — CSS and JS, served by Starlette's StaticFiles from the package.
- `GET /api/models` — the configured model names.
- `POST /api/count` — a verse's reading, morae per ku and form (the live counter, the renga
  check), straight from `tsukeku.prosody.check_form`.
- `POST /api/compose` — one model's 付句 through the compose service (batched with the API);
  the page sends one request per model at once for 付け比べ.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.staticfiles import StaticFiles

from tsukeku.errors import TsukekuError
from tsukeku.serving.deps import LoadedRegistry, Service
from tsukeku.serving.errors import InvalidRequest
from tsukeku.serving.schemas import MAX_VERSE_CHARS, ComposeParameters, Previous

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"

# The page needs nothing but its own origin; inline scripts and event-handler attributes are
# refused by the browser even if some future change rendered visitor text as markup.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter()
_static = StaticFiles(directory=STATIC_DIR)


@router.get("/", include_in_schema=False)
async def page() -> Response:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=PAGE_HEADERS)


@router.get("/static/{path:path}", include_in_schema=False)
async def static(path: str, request: Request) -> Response:
    # StaticFiles does the path checks (no escaping the folder), ETags and content types.
    response = await _static.get_response(path, request.scope)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers.setdefault("Cache-Control", "no-cache")
    return response


@router.get("/api/models", tags=["page"])
async def models(registry: LoadedRegistry) -> dict[str, Any]:
    """The models a visitor can pick, in the registry's order."""
    out = []
    for name in registry.names():
        backend = registry.get(name)
        out.append(
            {
                "name": name,
                "supports_constraints": bool(getattr(backend, "supports_constraints", False)),
            }
        )
    return {"models": out}


class CountBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_VERSE_CHARS, description="a verse, ku spaced")
    form: Literal["auto", "5-7-5", "7-7", "5-7-5-7-7"] = Field(
        "auto", description="the form to check against; auto detects it from the text"
    )


@router.post("/api/count", tags=["page"])
async def count(body: CountBody) -> dict[str, Any]:
    """Reading, morae per ku and form of a verse. A verse prosody cannot read is not an HTTP
    error here (the visitor is still typing): `ok` is false and `message` says why."""
    text = body.text.strip()
    if not text:
        raise InvalidRequest("text: type a verse (it is blank)")
    from tsukeku.prosody import FORMS, check_form

    try:
        report = check_form(text, body.form)
    except TsukekuError as err:
        return {
            "text": text,
            "form": None if body.form == "auto" else body.form,
            "expected": list(FORMS[body.form]) if body.form in FORMS else None,
            "ok": False,
            "ku": [],
            "readings": [],
            "reading": "",
            "ku_morae": [],
            "morae": 0,
            "deviations": [],
            "message": str(err),
        }
    out = report.to_dict()
    out.update(
        text=text,
        expected=list(FORMS[report.form]) if report.form in FORMS else None,
        reading=" ".join(report.readings),
        morae=sum(report.ku_morae),
        message=None,
    )
    return out


class ComposeBody(ComposeParameters):
    """The page's compose call: the API's generation parameters plus the 前句 (or chain)."""

    previous: Previous = Field(description="the 前句, or the chain so far (oldest first)")


@router.post("/api/compose", tags=["page"])
async def compose(body: ComposeBody, service: Service, _: LoadedRegistry) -> dict[str, Any]:
    """One model's answer (the service picks its default model when `model` is left out and
    answers 422 for an unknown one)."""
    result = await service.compose(body.model, body.request(body.previous))
    return result.to_dict()
