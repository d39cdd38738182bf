"""Errors a user can cause. The CLI prints them without a traceback and exits 2."""


class TsukekuError(Exception):
    """Base class: the message says what went wrong and what to do."""

    exit_code = 2


class InputError(TsukekuError):
    """Bad text given by the user (empty, too long, unreadable, control characters …)."""


class DataError(TsukekuError):
    """A data file or record is missing or malformed."""


class ConfigError(TsukekuError):
    """A configuration value or combination of options is invalid."""


class ModelError(TsukekuError):
    """A model, tokenizer or adapter cannot be found or loaded."""


def explain_validation(err, *, prefix: str = "", limit: int | None = None, default_where: str = "") -> str:
    """One line out of a pydantic ``ValidationError``: where (dotted location) and what is wrong.

    The one formatter for every pydantic error a user sees (records, configs, HTTP bodies).
    ``prefix`` is put before every location, ``limit`` caps how many errors are listed, and
    ``default_where`` names the whole object when an error has no location.
    """
    errors = err.errors()
    shown = errors if limit is None else errors[:limit]
    parts = []
    for e in shown:
        where = ".".join(str(p) for p in (prefix, *e["loc"]) if p != "") or default_where
        msg = e["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {msg}" if where else msg)
    more = len(errors) - len(shown)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


class UnknownModel(InputError):
    """A request named a model the server (or models file) does not have."""


class Unavailable(TsukekuError):
    """The service cannot answer now (models loading or failed, shutting down); `retry_after_s`
    says when to try again, when known."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class QueueFull(Unavailable):
    """Too many requests are waiting for a model; retry after `retry_after_s`."""


class GenerationTimeout(TsukekuError):
    """Generation (queueing included) took longer than the service's time limit."""
