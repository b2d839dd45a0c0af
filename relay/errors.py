"""The errors operations raise; each front maps them once (exit status, HTTP status, reply).

Every message is a sentence for whoever typed the command or sent the request.
"""

from __future__ import annotations


class RelayError(Exception):
    """Base of the errors an operation raises, worded for its caller."""


class NotFound(RelayError):
    """The thing named does not exist (CLI 4, HTTP 404)."""


class Conflict(RelayError):
    """The change contradicts what is stored (CLI 1, HTTP 409)."""


class Invalid(RelayError, ValueError):
    """A value the operation cannot take (CLI 2, HTTP 422)."""


class NotAllowed(RelayError):
    """A marketplace rule forbids the change (CLI 3, HTTP 403)."""


class StoreUnavailable(RelayError):
    """The database cannot be reached, or failed (CLI 1, HTTP 503): trying again may work."""


class SchemaNotReady(StoreUnavailable):
    """The database has no schema, or an older one: `relay db upgrade` is needed (CLI 2)."""


# The store's errors are the operations' errors: nothing to translate between layers.
StoreError = RelayError
