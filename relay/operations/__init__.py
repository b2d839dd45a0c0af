"""The operations of SPEC §4: one typed async function each, shared by every front.

A front opens a `Context` with `connect(settings)`, calls the functions in
`directory`, `queue` and `schema`, and maps the errors of `relay.errors` once
(the CLI to exit statuses, later the HTTP API to HTTP statuses).
"""

from relay.operations.context import Context, connect

__all__ = ["Context", "connect"]
