"""Reading request bodies by content type: 415 for types we do not speak, 400 for bodies that
do not parse, 422 (from pydantic) for bodies that parse but say something invalid."""

from __future__ import annotations

import json
from email.message import Message
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from tsukeku.errors import explain_validation
from tsukeku.serving.errors import BadRequest, InvalidRequest, NotAcceptable, UnsupportedMediaType

M = TypeVar("M", bound=BaseModel)


def _media_type(request: Request) -> tuple[str | None, str]:
    header = request.headers.get("content-type")
    if not header:
        return None, "utf-8"
    msg = Message()
    msg["content-type"] = header
    return msg.get_content_type(), msg.get_param("charset", "utf-8")  # type: ignore[return-value]


def _is_json(media: str) -> bool:
    main, _, sub = media.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


def _decode(raw: bytes, charset: str) -> str:
    try:
        return raw.decode(charset)
    except (LookupError, UnicodeDecodeError):
        raise BadRequest(f"the body is not valid {charset} text") from None


TOO_DEEP = "the JSON body is nested too deeply; send a flat object such as {\"inputs\": \"…\"}"


def _loads(raw: bytes) -> Any:
    """json.loads, with nesting past the parser's recursion limit as a bad body (never a 500)."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise BadRequest(TOO_DEEP) from None


def _parse_json(raw: bytes) -> Any:
    try:
        return _loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadRequest(f"malformed JSON body: {err}") from None


async def read_payload(request: Request, *, allow_text: bool) -> Any:
    """The body as a JSON value; with `allow_text`, a text/plain body (or an untyped body that
    is not JSON) comes back as a str."""
    media, charset = _media_type(request)
    accepted = "application/json" + (" or text/plain" if allow_text else "")
    if media is not None and not _is_json(media) and not (allow_text and media == "text/plain"):
        raise UnsupportedMediaType(f"content type {media!r} is not supported; send {accepted}")
    raw = await request.body()
    if not raw:
        raise BadRequest(f"the body is empty; send {accepted}")
    if media is None:
        try:
            return _loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            if allow_text:
                return _decode(raw, charset)
            raise BadRequest("malformed JSON body (no content type was given)") from None
    if media == "text/plain":
        return _decode(raw, charset)
    return _parse_json(raw)


def validate(model: type[M], payload: Any) -> M:
    try:
        return model.model_validate(payload)
    except ValidationError as err:
        raise InvalidRequest(explain_validation(err, limit=5)) from None


def check_accept_json(request: Request) -> None:
    """The API answers JSON only; a client that accepts only something else hears so."""
    accept = request.headers.get("accept")
    if not accept:
        return
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        if media in ("*/*", "application/*", "application/json", "") or media.endswith("+json"):
            return
    raise NotAcceptable(f"this API answers application/json; the request accepts only {accept!r}")
