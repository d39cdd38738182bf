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
