"""Renga sessions (座) over HTTP: `tsukeku.sessions.SessionService` behind `/api/sessions`.

- `POST /api/sessions` — create (form, rule profile, participants, turn order); answers the
  session with its join token (for everyone at the table) and host token (the 宗匠's).
- `GET /api/sessions` — list (`?status=open|finished|ended`); `GET /api/sessions/{id}` — one
  session as every screen shows it (no tokens).
- `POST /api/sessions/{id}/participants` `{name, token}` — join (409 for a name already seated).
- `POST /api/sessions/{id}/role` `{token}` — `host` or `guest` (403 for a wrong token).
- `POST /api/sessions/{id}/check` `{text}` — what the verse would meet at the next seat (the
  page asks while the visitor types); unreadable text is `ok: false` with a `message`.
- `POST /api/sessions/{id}/verses` `{text, participant_id, token, seat?, accept?}` — post;
  409 when `seat` is taken or out of turn, 422 `rule_broken` with `violations` when the verse
  breaks a rule the host did not accept.
- `POST /api/sessions/{id}/compose` `{participant_id, token}` — a model composes now (出勝).
- `POST /api/sessions/{id}/take-back`, `POST /api/sessions/{id}/end` `{token}` — the host's.
- `GET /api/sessions/{id}/export.jsonl` (corpus chain), `GET /api/sessions/{id}/export.html`
  (printable, vertical writing).
- `GET /api/sessions/{id}/events` — Server-Sent Events: a `snapshot` first, then one event per
  change (`verse`, `take_back`, `status`, `participant`), each carrying the session as shown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from tsukeku.errors import InputError
from tsukeku.generation.types import MAX_VERSE_CHARS
from tsukeku.serving.deps import LoadedRegistry, Service, Sessions
from tsukeku.serving.errors import error_body
from tsukeku.sessions.errors import RuleBroken
from tsukeku.sessions.export import to_html, to_jsonl
from tsukeku.store.errors import SessionNotFound

router = APIRouter(prefix="/api/sessions", tags=["sessions"])

SessionId = Annotated[str, Path(min_length=8, max_length=64, pattern=r"^[0-9a-f]+$")]
Token = Annotated[str, Field(min_length=1, max_length=100)]
WAIT_S = 5.0  # one wait on the event bus; between waits the stream checks for a closed client
# and a draining server (a stream left open would hold up the shutdown)
PAGE_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}


class ParticipantBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=100, description="display name (models: optional)")
    kind: Literal["human", "model"] = "human"
    model: str | None = Field(None, max_length=200, description="a model of the models file")


class CreateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field("", max_length=200)
    form: Literal["歌仙", "半歌仙"] = "半歌仙"
    profile: str | None = Field(None, max_length=40, description="rule profile name")
    turn_order: Literal["rotation", "degachi"] = "rotation"
    participants: list[ParticipantBody] = Field(min_length=1, max_length=32)


class JoinBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=100)
    token: Token


class CheckBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=MAX_VERSE_CHARS)


class VerseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=MAX_VERSE_CHARS)
    participant_id: int
    token: Token
    seat: int | None = Field(None, ge=1, le=100, description="the seat the verse is for")
    accept: list[Annotated[str, Field(max_length=40)]] = Field(
        [], max_length=20, description="rule ids the host accepts (host token only)")


class ComposeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    participant_id: int
    token: Token


class HostBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: Token


def _created(record: Any, view: dict[str, Any]) -> dict[str, Any]:
    base = f"/?session={record.id}"
    return {
        "session": view,
        "join_token": record.join_token,
        "host_token": record.host_token,
        "links": {"join": f"{base}#token={record.join_token}",
                  "host": f"{base}#token={record.host_token}"},
    }


@router.post("", status_code=201)
async def create(body: CreateBody, svc: Sessions, registry: LoadedRegistry) -> dict[str, Any]:
    people = [p.model_dump() for p in body.participants]
    record = await run_in_threadpool(
        svc.create, title=body.title, form=body.form, profile=body.profile,
        turn_order=body.turn_order, participants=people, models=list(registry.names()))
    svc.advance(record.id)  # a model may hold the first seat
    return _created(record, await run_in_threadpool(svc.view, record.id))


@router.get("")
async def list_sessions(
    svc: Sessions,
    status: Literal["open", "finished", "ended"] | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    rows = await run_in_threadpool(svc.store.list_sessions, status=status, limit=limit)
    return {"sessions": [
        {"id": r.id, "title": r.title, "form": r.form, "status": r.status, "verses": r.verses,
         "created_at": r.created_at, "updated_at": r.updated_at} for r in rows]}


@router.get("/{session_id}")
async def get(session_id: SessionId, svc: Sessions) -> dict[str, Any]:
    view = await run_in_threadpool(svc.view, session_id)
    svc.advance(session_id)  # a model's turn left over from before a restart resumes
    return view


@router.post("/{session_id}/participants", status_code=201)
async def join(session_id: SessionId, body: JoinBody, svc: Sessions) -> dict[str, Any]:
    p = await run_in_threadpool(svc.join, session_id, body.name, body.token)
    return {"id": p.id, "name": p.name, "kind": p.kind, "position": p.position}


@router.post("/{session_id}/role")
async def role(session_id: SessionId, body: HostBody, svc: Sessions) -> dict[str, Any]:
    """Whether a token is the host's (the page shows the 宗匠's tools) or a guest's."""
    return await run_in_threadpool(svc.role, session_id, body.token)


@router.post("/{session_id}/check")
async def check(session_id: SessionId, body: CheckBody, svc: Sessions) -> dict[str, Any]:
    try:
        return await run_in_threadpool(svc.check, session_id, body.text)
    except InputError as err:
        if isinstance(err, SessionNotFound):
            raise
        # The visitor is still typing: text prosody cannot read is not an HTTP error here.
        return {"text": body.text, "ok": False, "violations": [], "errors": [],
                "message": str(err)}


@router.post("/{session_id}/verses", status_code=201, response_model=None)
async def post_verse(session_id: SessionId, body: VerseBody,
                     svc: Sessions) -> dict[str, Any] | JSONResponse:
    try:
        out = await run_in_threadpool(
            svc.post, session_id, text=body.text, participant_id=body.participant_id,
            token=body.token, accept=body.accept, seat=body.seat)
    except RuleBroken as err:
        content = error_body("rule_broken", str(err))
        content["error"]["violations"] = err.violations
        return JSONResponse(content, status_code=422)
    svc.advance(session_id)
    return out


@router.post("/{session_id}/compose", status_code=201)
async def compose(session_id: SessionId, body: ComposeBody, svc: Sessions,
                  _: LoadedRegistry) -> dict[str, Any]:
    out = await svc.compose_turn(session_id, body.participant_id, body.token)
    svc.advance(session_id)
    return out


@router.post("/{session_id}/take-back")
async def take_back(session_id: SessionId, body: HostBody, svc: Sessions) -> dict[str, Any]:
    verse = await run_in_threadpool(svc.take_back, session_id, body.token)
    return {"taken_back": None if verse is None else verse.seat}


@router.post("/{session_id}/end")
async def end(session_id: SessionId, body: HostBody, svc: Sessions) -> dict[str, Any]:
    await run_in_threadpool(svc.end, session_id, body.token)
    return await run_in_threadpool(svc.view, session_id)


@router.get("/{session_id}/export.jsonl")
async def export_jsonl(session_id: SessionId, svc: Sessions) -> Response:
    record = await run_in_threadpool(svc.store.get_session, session_id)
    text = await run_in_threadpool(to_jsonl, record)
    return Response(text, media_type="application/x-ndjson; charset=utf-8", headers={
        **PAGE_HEADERS,
        "Content-Disposition": f'attachment; filename="session-{record.id}.jsonl"'})


@router.get("/{session_id}/export.html")
async def export_html(session_id: SessionId, svc: Sessions) -> Response:
    record = await run_in_threadpool(svc.store.get_session, session_id)
    html = await run_in_threadpool(to_html, record)
    # The page has no script at all; the policy says so to the browser.
    return Response(html, media_type="text/html; charset=utf-8", headers={
        **PAGE_HEADERS,
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                   "base-uri 'none'; frame-ancestors 'none'"})


async def _shown(session_id: SessionId, svc: Sessions) -> dict[str, Any]:
    """The session as shown; as a dependency, an unknown id is a 404 before a stream starts."""
    return await run_in_threadpool(svc.view, session_id)


@router.get("/{session_id}/events", response_class=EventSourceResponse)
async def events(
    session_id: SessionId, request: Request, svc: Sessions, service: Service,
    view: Annotated[dict[str, Any], Depends(_shown)],
    last_event_id: Annotated[int | None, Header(ge=0)] = None,
) -> AsyncIterator[ServerSentEvent]:
    """A snapshot, then every change as it is written (by this instance or another)."""
    bus = svc.events
    after = last_event_id if last_event_id is not None else await run_in_threadpool(
        bus.last_id, session_id)
    svc.advance(session_id)
    yield ServerSentEvent(event="snapshot", id=str(after), data={"session": view}, retry=2000)
    while (not svc.closing and service.state != "draining"
           and not await request.is_disconnected()):
        found = await bus.wait(session_id, after, WAIT_S)
        if not found:
            continue
        view = await run_in_threadpool(svc.view, session_id)
        svc.advance(session_id)
        for event in found:
            after = event.id
            yield ServerSentEvent(event=event.kind, id=str(event.id),
                                  data={"event": event.payload, "session": view})
