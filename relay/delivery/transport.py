"""Transports hand a message upstream; every foreign error becomes one of two failures here."""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import tempfile
from pathlib import Path
from typing import Protocol

import aiosmtplib

from relay.config import UpstreamSettings
from relay.delivery.dkim import Signer
from relay.message import seven_bit_head
from relay.model import Delivery


class DeliveryFailure(Exception):
    """Base of the two outcomes the worker distinguishes."""


class TemporaryFailure(DeliveryFailure):
    """Try again later: 4xx, refused connection, timeout, TLS trouble."""


class PermanentFailure(DeliveryFailure):
    """Give up and tell the sender: 5xx."""


class _Disconnected(TemporaryFailure):
    """The connection broke: a kept connection may simply have gone stale."""


class Transport(Protocol):
    async def send(self, delivery: Delivery, data: bytes) -> None:
        """Deliver one message to its envelope, or raise TemporaryFailure / PermanentFailure."""

    async def close(self) -> None: ...


class OutboxTransport:
    """Writes each message as `<message id>.eml`: the embedded default and staging.

    The envelope goes on top as a local delivery agent records it (Return-Path:
    and Delivered-To:), so the file shows where the message would have gone.
    Written to a temporary name, fsynced, then renamed, so a reader never sees
    half a message and a crash never leaves one behind under a final name; a
    second delivery of the same message replaces its file. Signed as it is
    written, below the envelope lines, as an upstream would get it.
    """

    def __init__(self, directory: Path, signer: Signer | None = None) -> None:
        self._dir = directory
        self._signer = signer or Signer()

    async def send(self, delivery: Delivery, data: bytes) -> None:
        data = await self._signer.sign(data)
        try:
            await asyncio.to_thread(self._write, delivery.message_id, envelope_headers(delivery),
                                    data)
        except OSError as exc:
            raise TemporaryFailure(f"cannot write to the outbox: {exc.strerror}") from exc

    def _write(self, message_id: str, head: bytes, data: bytes) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._dir, prefix=f".{message_id}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(head)
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self._dir / f"{message_id}.eml")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(self._dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    async def close(self) -> None:
        return None


def envelope_headers(delivery: Delivery) -> bytes:
    """Return-Path and Delivered-To, as a local delivery agent writes them (RFC 5321 §4.4)."""
    return (f"Return-Path: <{delivery.envelope_from}>\r\n"
            f"Delivered-To: {delivery.recipient}\r\n").encode()


def client_tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """Verify the upstream against ca_file, else the system store (SSL_CERT_FILE works)."""
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


class SmtpTransport:
    """Forwards over SMTP with STARTTLS or implicit TLS and AUTH (aiosmtplib).

    Connections are kept open between deliveries: the TLS handshake and AUTH
    cost more than a small message. A kept connection that the upstream has
    closed meanwhile is replaced once, transparently.
    """

    IDLE_SECONDS = 30.0

    def __init__(self, settings: UpstreamSettings, signer: Signer | None = None,
                 helo: str | None = None) -> None:
        self._settings = settings
        self._signer = signer or Signer()
        # The name relay gives in EHLO: server.hostname, which its address's PTR names,
        # not whatever the machine calls itself (a smarthost may check the two agree).
        self._helo = helo
        self._tls = None if settings.tls == "none" else client_tls_context(settings.ca_file)
        self._idle: list[tuple[float, aiosmtplib.SMTP]] = []

    def _client(self) -> aiosmtplib.SMTP:
        s = self._settings
        return aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            timeout=s.timeout,
            use_tls=s.tls == "implicit",
            start_tls=s.tls == "starttls",
            validate_certs=self._tls is not None,
            tls_context=self._tls,
            username=s.username,
            password=s.password,
            local_hostname=self._helo,
        )

    def _kept(self) -> aiosmtplib.SMTP | None:
        now = asyncio.get_running_loop().time()
        while self._idle:
            since, client = self._idle.pop()
            if client.is_connected and now - since < self.IDLE_SECONDS:
                return client
            client.close()
        return None

    async def send(self, delivery: Delivery, data: bytes) -> None:
        envelope_from, recipient = delivery.envelope_from, delivery.recipient
        client = self._kept()
        if client is not None:
            try:
                await self._send_on(client, envelope_from, recipient, data)
                return
            except _Disconnected:
                pass  # the kept connection went stale: one fresh try below
        client = self._client()
        try:
            await client.connect()
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError, TimeoutError) as exc:
            client.close()
            raise TemporaryFailure(f"upstream unavailable: {exc}") from exc
        except asyncio.CancelledError:
            client.close()
            raise
        await self._send_on(client, envelope_from, recipient, data)

    async def _send_on(
        self, client: aiosmtplib.SMTP, envelope_from: str, recipient: str, data: bytes
    ) -> None:
        # MAIL, RCPT and DATA by hand rather than sendmail(), which re-normalises
        # the whole message just to count it for SIZE. Our messages already end
        # every line in CRLF, so their length is the SIZE.
        try:
            if client.is_ehlo_or_helo_needed:  # what the upstream offers is known after EHLO
                await client.ehlo()
            try:
                data, options, encoding = _for_upstream(client, envelope_from, recipient, data)
            except PermanentFailure:
                self._keep(client)
                raise
            data = await self._signer.sign(data)  # the bytes are final: sign what is sent
            if client.supports_extension("size"):
                options.append(f"SIZE={len(data)}")
            await client.mail(envelope_from, options=options, encoding=encoding)
            await client.rcpt(recipient, encoding=encoding)
            await client.data(data)
        except aiosmtplib.SMTPResponseException as exc:  # a refused MAIL, RCPT or DATA
            await _reset(client)
            self._keep(client)
            raise _by_code(exc.code, exc.message) from exc
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError, TimeoutError) as exc:
            client.close()
            raise _Disconnected(f"upstream unavailable: {exc}") from exc
        except asyncio.CancelledError:
            # Cut off (the lease may run out, or shutdown): closing the connection
            # mid-DATA makes the upstream drop what it got of the message.
            client.close()
            raise
        self._keep(client)

    def _keep(self, client: aiosmtplib.SMTP) -> None:
        if client.is_connected:
            self._idle.append((asyncio.get_running_loop().time(), client))

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for _, client in idle:
            with contextlib.suppress(Exception):
                await client.quit()
            client.close()


def _for_upstream(
    client: aiosmtplib.SMTP, envelope_from: str, recipient: str, data: bytes
) -> tuple[bytes, list[str], str]:
    """The message, MAIL options and address encoding this upstream can take (RFC 6531).

    The rewrite writes 7-bit headers; mail passed on as it came (to the admin)
    may have 8-bit ones. Those go with SMTPUTF8 when the upstream offers it, and
    re-encoded in 7 bits when it does not. A non-ASCII envelope address cannot
    be re-encoded: without SMTPUTF8 the message cannot be delivered.
    """
    ascii_envelope = envelope_from.isascii() and recipient.isascii()
    end = data.find(b"\r\n\r\n")
    if ascii_envelope and data[: end if end >= 0 else len(data)].isascii():
        return data, [], "ascii"
    if client.supports_extension("smtputf8"):
        return data, ["SMTPUTF8"], "utf-8"
    if not ascii_envelope:
        raise PermanentFailure("the upstream does not offer SMTPUTF8, which a non-ASCII "
                               "address needs")
    return seven_bit_head(data), [], "ascii"


async def _reset(client: aiosmtplib.SMTP) -> None:
    """RSET after a refusal so the connection can carry the next message."""
    try:
        await client.rset()
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        client.close()


def _by_code(code: int, message: str) -> DeliveryFailure:
    text = f"upstream answered {code} {message}"
    return PermanentFailure(text) if 500 <= code < 600 else TemporaryFailure(text)


class Replaceable:
    """The upstream in use. A reload puts a new one in; the old one is closed once the
    sends it has in progress are over, so no delivery is cut off halfway."""

    def __init__(self, transport: Transport) -> None:
        self.current = transport
        self._sending: dict[int, int] = {}  # id(transport) -> its sends in progress
        self._retired: dict[int, Transport] = {}

    async def send(self, delivery: Delivery, data: bytes) -> None:
        transport, key = self.current, id(self.current)
        self._sending[key] = self._sending.get(key, 0) + 1
        try:
            await transport.send(delivery, data)
        finally:
            self._sending[key] -= 1
            if not self._sending[key]:
                del self._sending[key]
                if key in self._retired:
                    await self._retired.pop(key).close()

    async def replace(self, transport: Transport) -> None:
        old, self.current = self.current, transport
        if id(old) in self._sending:
            self._retired[id(old)] = old
        else:
            await old.close()

    async def close(self) -> None:
        retired, self._retired = list(self._retired.values()), {}
        for transport in (*retired, self.current):
            await transport.close()


def create_transport(settings: UpstreamSettings, signer: Signer | None = None,
                     helo: str | None = None) -> Transport:
    """`helo`: the name to greet an SMTP upstream with (server.hostname)."""
    if settings.kind == "outbox":
        return OutboxTransport(settings.outbox_dir, signer)
    return SmtpTransport(settings, signer, helo)
