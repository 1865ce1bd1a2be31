"""Errors that carry a message meant for the coordinator, keyed by the field they belong to."""

from __future__ import annotations


class ClarionError(Exception):
    """Base for errors whose message can be shown to the user as it is."""


class ValidationError(ClarionError):
    """Bad input: one message per field. Nothing was stored."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


class ConfirmationRequired(ClarionError):
    """The input is acceptable only once the coordinator confirms it explicitly."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(message)


class TransitionRefused(ClarionError):
    """A phase move the lifecycle does not allow; the message says why."""


class NotFound(ClarionError):
    pass


def too_long(what: str, limit: int, length: int) -> str:
    """The one wording of a length limit: the number checked is the number said ("The name
    is at most 200 characters; this one has 250.")."""
    return f"{what} is at most {limit:,} characters; this one has {length:,}."
