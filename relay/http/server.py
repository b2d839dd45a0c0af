"""One aiohttp application served on one address, inside the relay's event loop.

The metrics listener uses it now; the HTTP API (SPEC §7) will serve its own
application the same way. Binding happens in `start`, so an address that cannot
be bound stops the relay's start with one line naming the setting, as the SMTP
listener's does.
"""

from __future__ import annotations

from aiohttp import web

from relay.listening import cannot_listen

# How long a stop waits for requests in progress: scrapes and probes are quick.
SHUTDOWN_SECONDS = 2.0


class Listener:
    """An application on `address`; `key` names the setting it came from, for errors."""

    def __init__(self, app: web.Application, address: tuple[str, int], key: str) -> None:
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_SECONDS)
        self._key = key
        self.address = address

    async def start(self) -> None:
        """Bind and serve; ConfigError (one line, naming the key) if the address cannot be bound."""
        host, port = self.address
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, host, port).start()
        except OSError as exc:
            await self._runner.cleanup()
            raise cannot_listen(exc, host, port, self._key) from None
        bound = self._runner.addresses[0]  # the port taken, when 0 asked for any
        self.address = (str(bound[0]), int(bound[1]))

    async def stop(self) -> None:
        await self._runner.cleanup()
