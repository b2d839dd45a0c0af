"""The 250 boundary: the only code path that lets the front answer 250 for a message."""

from __future__ import annotations

from collections.abc import Callable

from relay.addresses import message_ids, normalise_address, relay_message_id
from relay.delivery.verp import bounce_address
from relay.message import Transaction, header_text, stamp_results
from relay.model import Accepted
from relay.ports import Acceptance


class Acceptor:
    """Archive both forms and queue the delivery in one durable commit, then wake a worker."""

    def __init__(self, store: Acceptance, domain: str, verp_key: bytes,
                 wake: Callable[[], None]) -> None:
        self._store = store
        self._domain = domain
        self._key = verp_key
        self._wake = wake

    async def __call__(self, tx: Transaction, *, deliver: bool) -> None:
        """Commit `tx`; `deliver=False` archives it only (a consumed message)."""
        assert tx.route is not None
        assert tx.delivered is not None or not deliver
        if tx.route.kind == "bounce":
            await self._report(tx)
            return
        message = tx.parsed
        original_ids = message_ids(header_text(message, "Message-ID"))
        accepted = Accepted(
            message_id=tx.id,
            route=tx.route,
            envelope_sender=normalise_address(tx.mail_from) if tx.mail_from else "",
            subject=header_text(message, "Subject"),
            original_message_id=original_ids[0] if original_ids else None,
            relay_message_id=relay_message_id(tx.id, self._domain),
            parent_id=tx.parent_id,
            received=tx.received if tx.authentication is None
            else stamp_results(tx.received, tx.authentication),
            delivered=tx.delivered or b"",
            envelope_from=bounce_address(tx.id, self._domain, self._key),
            deliver=deliver,
            case_id=tx.case_id,
            contact_reason=tx.contact_reason,
            order_id=tx.order_id,
        )
        # The parsed tree can be larger than the message; nothing needs it past here,
        # and the commit may wait for others in its group.
        tx.message = None
        del message
        await self._store.accept(accepted)
        if deliver:
            self._wake()

    async def _report(self, tx: Transaction) -> None:
        """A bounce at a VERP address: archive it, mark its message, queue our own notice."""
        assert tx.about is not None
        await self._store.accept_report(tx.id, tx.about, tx.received, tx.notice)
        if tx.notice is not None:
            self._wake()
