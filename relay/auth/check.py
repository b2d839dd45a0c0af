"""Both checks on one message, at once: what relay.policy.authentication asks."""

from __future__ import annotations

import asyncio

from relay.auth.alignment import ascii_domain
from relay.auth.dkim_verify import verify
from relay.auth.resolver import Resolver
from relay.auth.spf import SpfChecker
from relay.auth.verdict import Verdict
from relay.model import SmtpClient


class SenderCheck:
    """DKIM and SPF for a message received over SMTP, side by side; one Verdict."""

    def __init__(self, resolver: Resolver) -> None:
        self._resolver = resolver
        self._spf = SpfChecker(resolver)

    async def __call__(self, message: bytes, client: SmtpClient, mail_from: str,
                       from_domains: tuple[str, ...]) -> Verdict:
        # RFC 7208 §2.4: with a null sender, the HELO identity is checked as postmaster@.
        sender = mail_from or f"postmaster@{client.helo}"
        dkim, spf = await asyncio.gather(
            verify(message, self._resolver),
            self._spf.check(client.ip, sender, client.helo),
        )
        return Verdict(tuple(ascii_domain(d) for d in from_domains), client.ip, tuple(dkim),
                       spf)
