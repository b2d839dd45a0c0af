"""The message log (SPEC §6): what buyers wrote and whether the seller still owes an answer.

Parties appear by their ids only; no view here carries a real address.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
from email.message import EmailMessage

from relay.errors import Invalid, NotFound
from relay.model import ArchivedMessage, MessageRecord, MessageView
from relay.operations.context import Context
from relay.operations.views import hider

MAX_LIMIT = 1000


async def list_messages(
    ctx: Context, *, buyer: str | None = None, seller: str | None = None,
    case: str | None = None, everything: bool = False, limit: int = 50,
    before: str | None = None, reported: bool = False,
) -> list[MessageRecord]:
    """Newest first; by default only buyer messages still awaiting the seller's response.

    `reported`: every message reported at least once (answered or not), with the
    other filters. `before` is the last id of the previous page (keyset paging: a
    page stays right while new mail arrives). Unknown buyer, seller, case or
    `before`: NotFound.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"the limit must be between 1 and {MAX_LIMIT}")
    return await ctx.store.messages.records(
        buyer=buyer, seller=seller, case_id=None if case is None else _case_id(case),
        everything=everything, limit=limit, before=before, reported=reported)


async def mark_no_response_needed(ctx: Context, message: str) -> MessageRecord:
    """The message no longer waits for a response (nor counts in response times)."""
    found = await ctx.store.messages.mark_no_response_needed(message)
    if found is None:
        raise NotFound(f"no message {message!r}")
    if found.direction != "buyer-to-seller":
        raise Invalid(f"message {message} is the seller's; only a buyer message awaits "
                      "a response")
    return found


def _case_id(case: str) -> int:
    text = case.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise NotFound(f"no case {case!r}")
    return int(text)


async def show_message(ctx: Context, message: str) -> MessageView:
    """The message as delivered: headers and decoded text, every real address as its alias.

    A refused message has neither (nothing of it was kept): its reply and rule instead.
    """
    found = await _archived(ctx, message)
    if found.record.status == "refused":
        return MessageView(**dataclasses.asdict(found.record), sender=found.sender_alias,
                           recipient=found.recipient_alias, headers=[], text=None,
                           reply=found.reply, rule=found.rule)
    source = found.delivered if found.delivered is not None else found.received
    parsed = email.message_from_bytes(source, policy=email.policy.default)
    hide = hider(found.hidden)
    headers = [(name, hide(str(value))) for name, value in parsed.items()]
    body = parsed.get_body(preferencelist=("plain", "html")) if isinstance(
        parsed, EmailMessage) else None
    text = None
    if isinstance(body, EmailMessage):
        try:
            text = hide(body.get_content())
        except (LookupError, ValueError):
            text = None
    return MessageView(**dataclasses.asdict(found.record), sender=found.sender_alias,
                       recipient=found.recipient_alias, headers=headers, text=text,
                       reply=None, rule=None)


async def received_message(ctx: Context, message: str) -> bytes:
    """The archived bytes as they arrived, for the operator (real addresses included)."""
    found = await _archived(ctx, message)
    if found.record.status == "refused":
        raise NotFound(f"message {message} was refused: nothing of it was kept")
    return found.received


async def _archived(ctx: Context, message: str) -> ArchivedMessage:
    found = await ctx.store.messages.archived_message(message)
    if found is None:
        raise NotFound(f"no message {message!r}")
    return found
