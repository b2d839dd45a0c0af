"""Trouble binding a listening socket, worded once for the admin and naming the setting."""

from __future__ import annotations

import errno

from relay.config import ConfigError


def cannot_listen(exc: OSError, host: str, port: int, key: str) -> ConfigError:
    """The one-line configuration error for a socket `key` asked for but that cannot be bound."""
    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        reason = f"{where} is already in use: stop the other server or change {key}"
    elif exc.errno == errno.EACCES:
        reason = (f"{where}: permission denied (a port below 1024 needs "
                  f"CAP_NET_BIND_SERVICE): change {key} or grant it")
    elif exc.errno == errno.EADDRNOTAVAIL:
        reason = f"{where} is not an address of this machine: change {key}"
    else:
        reason = f"cannot listen on {where} ({exc.strerror or exc}): check {key}"
    return ConfigError(reason)
