"""Domain errors of the store: what a caller (a route, the CLI) can cause and should be told.

`status` is the HTTP status a route answers with; the store itself knows nothing of HTTP.
"""

from __future__ import annotations

from tsukeku.errors import ConfigError, InputError


class StoreConfigError(ConfigError):
    """The database URL or file cannot be used (unknown scheme, newer schema, not WAL …)."""


class BattleNotFound(InputError):
    """The battle id is unknown (never created, or pruned because it was left unvoted)."""

    status = 404


class AlreadyVoted(InputError):
    """A battle takes one vote; the page should start a new battle."""

    status = 409


class SessionNotFound(InputError):
    """No renga session has this id."""

    status = 404


class SeatConflict(InputError):
    """The verse was posted for a seat that is not the next one (or another instance won the
    race for it); the client should reload the session and compose for its next seat."""

    status = 409


class SessionClosed(InputError):
    """The session is finished or ended; it takes no more verses or participants."""

    status = 409
