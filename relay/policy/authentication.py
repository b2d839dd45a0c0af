"""Sender authentication (SPEC §2.1): mail from a party over SMTP must be DKIM- or SPF-
authenticated for the domain of its From, or it is refused.

`build_pipeline` adds this step only with `auth.require = "dkim-or-spf"`, and only for
the routes between the parties; mail submitted without SMTP (`relay send`, the API:
no `tx.client`) is vouched for by its front and not checked. The verdict is kept on
the transaction for the archive (Authentication-Results); it decides, never edits.
"""

from __future__ import annotations

from typing import Protocol

import structlog

from relay import replies
from relay.addresses import header_addresses
from relay.auth.verdict import Verdict
from relay.message import Transaction, header_text
from relay.model import AuthenticationResults, SmtpClient
from relay.replies import Deferred, Refused

log = structlog.get_logger("relay.policy")


class Check(Protocol):
    """relay.auth.check.SenderCheck."""

    async def __call__(self, message: bytes, client: SmtpClient, mail_from: str,
                       from_domains: tuple[str, ...]) -> Verdict: ...


class SenderAuthentication:
    """Refuses (550 5.7.26) what neither aligned DKIM nor aligned SPF vouches for; 451 when
    a DNS failure may be why."""

    def __init__(self, check: Check, authserv_id: str) -> None:
        self._check = check
        self._authserv_id = authserv_id

    async def __call__(self, tx: Transaction) -> None:
        if tx.client is None:
            return
        value = header_text(tx.parsed, "From")
        domains = tuple(dict.fromkeys(
            a.rpartition("@")[2] for a in (header_addresses([value]) if value else [])))
        if not domains:  # HeaderSender refuses these first
            raise Refused(replies.S550_NOT_AUTHORISED.but(
                "The message has no readable From: header"))
        verdict = await self._check(tx.received, tx.client, tx.mail_from, domains)
        tx.authentication = AuthenticationResults(self._authserv_id, verdict.results())
        log.info("auth.verdict", dkim=verdict.by_dkim, spf=verdict.by_spf,
                 temporary=verdict.temporary,
                 results=[f"dkim={r.outcome}:{r.domain}" for r in verdict.dkim]
                 + [f"spf={verdict.spf.outcome}:{verdict.spf.domain}"])
        if verdict.passed:
            return
        if verdict.temporary:
            reply = (replies.S451_SPF_TEMPERROR if verdict.spf_temporary
                     else replies.S451_DKIM_TEMPERROR)
            raise Deferred(reply.but(verdict.temporary_explanation()))
        raise Refused(replies.S550_NOT_AUTHENTICATED.but(verdict.explanation()))
