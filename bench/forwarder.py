"""The bare forwarder: aiosmtpd in, an asyncio.Queue, aiosmtplib out; a benchmark baseline.

Run as its own process: `python -m bench.forwarder --upstream-port N --ca-file ...`.

The least any SMTP relay written with aiosmtpd and aiosmtplib must do, as a
second baseline: aiosmtpd's handle_DATA puts the message on an asyncio.Queue
and answers 250 at once; a few worker tasks, each keeping one aiosmtplib
connection to the upstream (STARTTLS and AUTH, as the relay's config has it),
send what is queued with the envelope as received. No store, no parsing, no
fsync, no retries beyond one fresh connection.

Like `bench.sink` it prints one JSON line `{"port": N}` once every worker is
connected upstream and the server listens, and it stops at end of stdin (the
benchmark went away) or on SIGTERM/SIGINT, dropping whatever is still queued.
A message that cannot be sent is logged to stderr and dropped: the benchmark
counts arrivals at the upstream, so it shows up as a message that never arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import ssl
import sys
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosmtplib
from aiosmtpd.smtp import SMTP

from bench.sink import MAX_DATA

MAX_LOGGED = 50  # problems written to stderr; the rest are only counted
_FAILED = (aiosmtplib.SMTPException, OSError, ssl.SSLError, TimeoutError)


@dataclass(frozen=True)
class Message:
    sender: str
    recipients: list[str]
    data: bytes


@dataclass(frozen=True)
class Upstream:
    host: str
    port: int
    username: str
    password: str
    tls: ssl.SSLContext
    timeout: float

    def client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.host, port=self.port, timeout=self.timeout, start_tls=True,
            tls_context=self.tls, username=self.username, password=self.password,
        )


class Log:
    def __init__(self) -> None:
        self.problems = 0

    def problem(self, text: str) -> None:
        self.problems += 1
        if self.problems <= MAX_LOGGED:
            print(f"forwarder: {text}", file=sys.stderr, flush=True)
        elif self.problems == MAX_LOGGED + 1:
            print("forwarder: further problems are not logged", file=sys.stderr, flush=True)


class Handler:
    """aiosmtpd finds hooks by name; this one queues the message and says 250."""

    def __init__(self, queue: asyncio.Queue[Message]) -> None:
        self._queue = queue

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self._queue.put_nowait(Message(
            envelope.mail_from or "", list(envelope.rcpt_tos), envelope.original_content or b"",
        ))
        return "250 OK queued"


class Worker:
    """One kept upstream connection; one fresh connection when it has gone away."""

    def __init__(self, upstream: Upstream, log: Log) -> None:
        self._upstream = upstream
        self._log = log
        self._client: aiosmtplib.SMTP | None = None

    async def connect(self) -> None:
        self.close()
        client = self._upstream.client()
        try:
            await client.connect()
        except BaseException:
            client.close()
            raise
        self._client = client

    async def run(self, queue: asyncio.Queue[Message]) -> None:
        while True:
            message = await queue.get()
            await self._deliver(message)

    async def _deliver(self, message: Message) -> None:
        for fresh in (False, True):
            try:
                if fresh or self._client is None or not self._client.is_connected:
                    await self.connect()
                assert self._client is not None
                await self._client.sendmail(message.sender, message.recipients, message.data)
                return
            except (aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPResponseException) as exc:
                self._log.problem(f"upstream refused: {exc}")
                await self._rset()
                return
            except _FAILED as exc:
                self.close()
                if fresh:
                    self._log.problem(f"upstream unavailable, message dropped: {exc!r}")

    async def _rset(self) -> None:
        if self._client is None:
            return
        try:
            await self._client.rset()
        except _FAILED:
            self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def quit(self) -> None:
        if self._client is not None and self._client.is_connected:
            with suppress(*_FAILED):
                await asyncio.wait_for(self._client.quit(), 2.0)
        self.close()


async def _serve(args: argparse.Namespace, upstream: Upstream) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log = Log()
    queue: asyncio.Queue[Message] = asyncio.Queue()
    workers = [Worker(upstream, log) for _ in range(args.workers)]
    tasks: list[asyncio.Task[None]] = []
    server: asyncio.Server | None = None
    try:
        try:
            await asyncio.gather(*(w.connect() for w in workers))
        except _FAILED as exc:
            print(f"forwarder: cannot connect to the upstream {upstream.host}:{upstream.port}: "
                  f"{exc!r}", file=sys.stderr, flush=True)
            return 1
        handler = Handler(queue)
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="forwarder.localhost", data_size_limit=MAX_DATA),
            "127.0.0.1", args.port,
        )
        tasks = [asyncio.create_task(w.run(queue)) for w in workers]
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        print(json.dumps({"port": server.sockets[0].getsockname()[1]}), flush=True)
        tasks.append(asyncio.create_task(_until_eof(reader, stop)))
        await stop.wait()
        return 0
    finally:
        if server is not None:
            server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(w.quit() for w in workers), return_exceptions=True)
        if server is not None:
            with suppress(TimeoutError):  # 3.12+ waits for open sessions here
                await asyncio.wait_for(server.wait_closed(), 2.0)
        if queue.qsize():
            print(f"forwarder: stopped with {queue.qsize()} messages still queued",
                  file=sys.stderr, flush=True)


async def _until_eof(reader: asyncio.StreamReader, stop: asyncio.Event) -> None:
    while await reader.readline():
        pass  # no commands; stdin is there so that the forwarder dies with the benchmark
    stop.set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.forwarder",
                                     description=__doc__.splitlines()[0].rstrip("."))
    parser.add_argument("--port", type=int, default=0, help="listen port on 127.0.0.1 (0: any)")
    parser.add_argument("--upstream-host", default="127.0.0.1")
    parser.add_argument("--upstream-port", type=int, required=True)
    parser.add_argument("--ca-file", type=Path, required=True,
                        help="CA the upstream's STARTTLS certificate is checked against")
    parser.add_argument("--username", default="relay")
    parser.add_argument("--password-file", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=4,
                        help="worker tasks, one upstream connection each (default 4)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="upstream SMTP timeout in seconds (default 60)")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.timeout <= 0:
        parser.error("--workers and --timeout must be positive")
    try:
        password = args.password_file.read_text(encoding="utf-8").strip()
        tls = ssl.create_default_context(cafile=str(args.ca_file))
    except (OSError, ssl.SSLError, UnicodeDecodeError) as exc:
        parser.error(str(exc))
    upstream = Upstream(host=args.upstream_host, port=args.upstream_port,
                        username=args.username, password=password, tls=tls, timeout=args.timeout)
    return asyncio.run(_serve(args, upstream))


if __name__ == "__main__":
    raise SystemExit(main())
