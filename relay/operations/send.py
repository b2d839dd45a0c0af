"""`relay send`: a seller's message from a template, through the intake SMTP mail passes.

The operation builds the message the seller would have written (From: their
primary address, To: the pair's buyer alias, `X-Contact-Reason` from the
template) and submits it to an `Intake` built as `relay serve` builds its own,
so opt-out, orders, quota, content rules and the archive apply alike. The
accepted message is queued in the store; a running relay's workers deliver it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr, make_msgid
from typing import Literal

from relay import templates
from relay.errors import Invalid, NotAllowed, NotFound
from relay.intake import Intake
from relay.operations.context import Context
from relay.replies import Deferred


@dataclass(frozen=True)
class Sent:
    message: str
    status: Literal["queued", "consumed"]


async def send_template(
    ctx: Context, *, seller: str, order: str, template: str,
    variables: Mapping[str, str] | None = None,
) -> Sent:
    """Render `template` for `order` in the buyer's language and submit it as the seller.

    Raises NotFound (seller, order, template), TemplateError (Invalid: the file
    is wrong or a placeholder has no value), NotAllowed (the reason is not
    allowed for the order's status, or the quota is used up) or Refused (a
    rule of the pipeline, with its SMTP reply).
    """
    settings, directory = ctx.settings, ctx.store.directory
    given = dict(variables or {})
    clash = sorted(set(given) & set(templates.BUILTIN))
    if clash:
        raise Invalid(f"--var {clash[0]} is filled in by relay and cannot be given")
    seller_record = await directory.seller(seller)
    order_record = await directory.order(order)
    if order_record.seller_id != seller:
        raise NotFound(f"seller {seller!r} has no order {order!r}")
    buyer = await directory.buyer(order_record.buyer_id)
    chosen = templates.find(settings.templates.dir, template, buyer.language,
                            settings.templates.default_language)
    allowed = settings.contact_reasons.get(chosen.reason, ())
    if order_record.status not in allowed:
        raise NotAllowed(
            f"contact reason {chosen.reason!r} is not allowed while order {order} is "
            f"{order_record.status}" + (f" (only {', '.join(allowed)})" if allowed
                                       else " (no status allows it in [contact_reasons])"))
    values = {**given, "order_id": order, "buyer_name": buyer.name or "",
              "seller_name": seller_record.name}
    text = templates.render(chosen, values)
    aliases = await directory.aliases(order_record.buyer_id, seller)
    data = _message(seller_record.name, seller_record.email, aliases.buyer_alias, text,
                    chosen.reason)
    intake = await _intake(ctx)
    try:
        outcome = await intake.submit(aliases.buyer_alias, data, party=seller,
                                      sender=seller_record.email, origin="relay send",
                                      order=order)
    except Deferred as exc:
        # The reply tells a mail server to retry; a person is told when.
        first = exc.reply.text.partition(";")[0]
        raise NotAllowed(f"{first}; try again later (the count starts again at "
                         "00:00 UTC)") from None
    return Sent(outcome.id, "queued" if outcome.queued else "consumed")


def _message(name: str, address: str, alias: str, text: templates.Rendered,
             reason: str) -> bytes:
    """The MIME message the seller would have sent, CRLF lines."""
    message = EmailMessage(policy=SMTP)
    message["From"] = formataddr((name, address))
    message["To"] = alias
    message["Subject"] = text.subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=address.rpartition("@")[2])
    message["X-Contact-Reason"] = reason
    message.set_content(text.body)
    if text.html is not None:
        message.add_alternative(text.html, subtype="html")
    return message.as_bytes()


async def _intake(ctx: Context) -> Intake:
    # The composition root knows how the pipeline's parts meet; imported here so
    # that commands which send nothing never load it.
    from relay.app import submission_intake

    return await submission_intake(ctx.settings, ctx.store)
