"""An SMTP sink run as its own process: `python -m bench.sink [--tls CERT KEY --auth ...]`.

Plain, it is the baseline every client sends to directly. With `--tls` and
`--password-file` it is the relay's upstream: STARTTLS and AUTH required, as
a production smarthost would be.

It prints one JSON line `{"port": N}` when listening, then answers lines on
stdin: `stat` gets a JSON line of counters, `reset` zeroes them (answer
`ok`). End of stdin (the benchmark went away) or SIGTERM stops it.
`time.monotonic()` is system-wide on Linux, so the benchmark can compare the
sink's timestamps with its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import ssl
import sys
import time
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

MAX_DATA = 64 * 1024 * 1024


@dataclass
class Counters:
    count: int = 0
    bytes: int = 0
    first: float = 0.0
    last: float = 0.0


class Handler:
    """aiosmtpd finds hooks by name; this one only counts and forgets."""

    def __init__(self) -> None:
        self.counters = Counters()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.monotonic()
        c = self.counters
        if c.count == 0:
            c.first = now
        c.count += 1
        c.bytes += len(envelope.original_content or b"")
        c.last = now
        return "250 OK"


class Authenticator:
    def __init__(self, username: str, password: str) -> None:
        self._username = username.encode()
        self._password = password.encode()

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == self._username
            and auth_data.password == self._password
        )
        return AuthResult(success=ok)


def _factory(handler: Handler, args: argparse.Namespace) -> Any:
    if args.tls is None:
        return lambda: SMTP(handler, hostname="sink.localhost", data_size_limit=MAX_DATA)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.tls[0], args.tls[1])
    password = Path(args.password_file).read_text(encoding="utf-8").strip()
    authenticator = Authenticator(args.username, password)
    return lambda: SMTP(
        handler,
        hostname="localhost",
        data_size_limit=MAX_DATA,
        tls_context=context,
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=authenticator,
    )


def _answer(line: str, handler: Handler) -> str:
    command = line.strip()
    if command == "stat":
        return json.dumps(asdict(handler.counters))
    if command == "reset":
        handler.counters = Counters()
        return "ok"
    return json.dumps({"error": f"unknown command {command!r}"})


async def _serve(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    handler = Handler()
    server = await loop.create_server(_factory(handler, args), "127.0.0.1", args.port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"port": port}), flush=True)

    async def control() -> None:
        while line := await reader.readline():
            print(_answer(line.decode(), handler), flush=True)
        stop.set()

    task = asyncio.create_task(control())
    try:
        await stop.wait()
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        server.close()
        with suppress(TimeoutError):  # 3.12+ waits for open sessions here
            await asyncio.wait_for(server.wait_closed(), 2.0)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sink")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--username", default="relay")
    parser.add_argument("--password-file")
    args = parser.parse_args()
    if args.tls is not None and args.password_file is None:
        parser.error("--tls needs --password-file")
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
