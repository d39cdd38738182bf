"""Errors of a renga session a visitor can cause. Each is a `TsukekuError` whose message says what
to do; `tsukeku.serving.errors` maps them to status codes. The store's own errors
(`SessionNotFound`, `SeatConflict`, `SessionClosed`) come from `tsukeku.store`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tsukeku.errors import InputError, TsukekuError


class SessionError(TsukekuError):
    """Base of the session errors."""


class RuleBroken(SessionError):
    """A verse breaks an error-level rule (or its form) and the host did not accept it.
    `violations` lists them as dicts (`rule`, `severity`, `verses`, `message`)."""

    def __init__(self, message: str, violations: Sequence[dict[str, Any]]) -> None:
        super().__init__(message)
        self.violations = list(violations)


class NotYourTurn(SessionError):
    """Someone posted out of turn (rotation), or for a seat that is a model's."""


class Forbidden(SessionError):
    """A wrong or missing token: the join token to post, the host token for the 宗匠's actions."""


class LimitReached(SessionError):
    """Too many open sessions, participants, or a verse or name too long."""


class NameTaken(SessionError):
    """A participant of that name already sits at the table."""


class BadSessionInput(InputError):
    """A session's settings are invalid (form, profile, participants, models)."""


class ModelTurnFailed(SessionError):
    """A model gave no usable verse for its seat (it is tried again on the next request)."""


class SeatTaken(SessionError):
    """A post named a seat that another verse has taken (the screen was behind)."""


class SessionOver(SessionError):
    """The session is finished or ended: no more verses."""
