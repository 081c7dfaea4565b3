"""The errors CRM services raise; the API turns each kind into its HTTP
status (400, 401, 403, 404, 409) with the message as the answer's detail."""

from __future__ import annotations


class InvalidInput(ValueError):
    """The request asks for something that cannot be (400)."""


class Conflict(InvalidInput):
    """It clashes with what exists: a duplicate uid, a number taken (409)."""


class NotFound(LookupError):
    """No such row, or none this user may see (404): the two are not told
    apart, so ids of other entities' rows leak nothing."""


class Unauthenticated(PermissionError):
    """No valid login (401)."""


class Forbidden(PermissionError):
    """Logged in, but not allowed (403)."""


class TooManyAttempts(PermissionError):
    """Too many failed logins for an account or from an address (429, with
    Retry-After in seconds)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
