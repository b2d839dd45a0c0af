"""The reply vocabulary: every SMTP code relay sends, and the exceptions that stop a message.

Only the fronts (SMTP, CLI) turn these into text; steps raise them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Reply:
    """An SMTP reply; a refusal's `rule` names the rule that refused, for the message log.

    The rule is a stable short name (the problem types of SPEC §7 where one exists):
    support reads it in `message show`, and a backend may branch on it. Only the
    reply's codes and text go on the wire.
    """

    code: int
    enhanced: str
    text: str
    rule: str | None = None

    def __str__(self) -> str:
        return f"{self.code} {self.enhanced} {self.text}"

    def but(self, text: str) -> Reply:
        """The same codes and rule with a more specific sentence."""
        return replace(self, text=text)

    @property
    def permanent(self) -> bool:
        return self.code >= 500


class Refused(Exception):
    """A permanent refusal (5xx): the sender's server gives up and tells the sender."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(str(reply))
        self.reply = reply


class Deferred(Exception):
    """A temporary refusal (4xx): the sender's server tries again later."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(str(reply))
        self.reply = reply


class Consumed(Exception):
    """The message is kept on record but not passed on (auto-replies, receipts, reports).

    Raised by a step the way a refusal is; intake archives the message without
    queueing it, and the sender still hears 250 (RFC 3834 §2: no bounce to a robot).
    """


S250_SENDER_OK = Reply(250, "2.1.0", "Sender OK")
S250_RCPT_OK = Reply(250, "2.1.5", "Recipient OK")
S250_KEPT = Reply(
    250, "2.0.0", "Automatic replies and read receipts are kept on record, not passed on"
)
S250_QUEUED = Reply(250, "2.0.0", "Message accepted for delivery")

S450_DAILY_LIMIT = Reply(
    450, "4.7.1", "Daily message limit reached for this seller; your server will retry later",
    rule="quota-exceeded",
)


def daily_limit(limit: int) -> Reply:
    """S450_DAILY_LIMIT naming the limit, so the seller knows what they reached."""
    return S450_DAILY_LIMIT.but(
        f"Daily message limit of {limit} reached for this seller; your server will retry later"
    )


S421_TIMEOUT = Reply(421, "4.4.2", "Closing the connection: it was idle for too long")
S421_TOO_MANY = Reply(421, "4.7.0", "Too many connections at once, please try again later")
S421_TOO_MANY_FROM_CLIENT = Reply(
    421, "4.7.0", "Too many connections from your address at once, please try again later"
)
S421_TOO_MANY_ERRORS = Reply(
    421, "4.7.0", "Too many errors in this session, closing the connection"
)
S421_TOO_MANY_COMMANDS = Reply(
    421, "4.7.0", "Too many commands that deliver no mail, closing the connection"
)
S421_SHUTTING_DOWN = Reply(421, "4.3.2", "The relay is restarting, please try again shortly")
S451_INTERNAL = Reply(451, "4.3.0", "A temporary problem on our side, please try again later")
S452_ONE_ALIAS = Reply(
    452, "4.5.3",
    "Only one recipient per message: your mail server will send to the others separately",
    rule="one-recipient",
)

S550_OPTED_OUT = Reply(
    550, "5.7.1",
    "The buyer has opted out of unsolicited messages; you can still reply in a conversation"
    " the buyer started or wrote in",
    rule="opted-out",
)
S550_NO_ORDER = Reply(
    550, "5.7.1",
    "You can write to a buyer only about an order: this buyer has no order with you, and"
    " this is not a reply in a conversation the buyer started or wrote in",
    rule="no-order",
)
S550_NOT_LOCAL = Reply(
    550, "5.7.1", "This relay only accepts mail for its own addresses",
    rule="not-local",
)
S550_UNKNOWN_ALIAS = Reply(
    550, "5.1.1", "No such address here: check the address you wrote to",
    rule="unknown-alias",
)
S550_NOT_AUTHORISED = Reply(
    550, "5.7.1", "You are not allowed to write to this address from this sender address",
    rule="not-authorised",
)
S550_SELLER_TO_SELLER = Reply(
    550, "5.7.1", "Sellers cannot write to other sellers",
    rule="seller-to-seller",
)
S550_BARE_LINE_ENDING = Reply(
    550, "5.5.2", "The message has a bare CR or LF line ending; lines must end with CRLF",
    rule="bare-line-ending",
)
S550_NULL_SENDER = Reply(
    550, "5.7.1", "Mail with an empty sender is not accepted at this address",
    rule="null-sender",
)
S550_CASE_CLOSED = Reply(
    550, "5.7.1",
    "This conversation belongs to a case that is closed, so replies to it are not accepted;"
    " write a new message (not a reply) to start a new conversation",
    rule="case-closed",
)
# Sender authentication (SPEC §2.1, RFC 7372). 5.7.26 "multiple authentication checks
# failed": the message passed neither DKIM nor SPF; the step words what failed.
S550_NOT_AUTHENTICATED = Reply(
    550, "5.7.26",
    "Your message could not be authenticated: no DKIM signature for your domain verified and"
    " SPF for your domain did not pass; ask your mail provider to set up DKIM or SPF",
    rule="not-authenticated",
)
# Nothing passed and a DNS lookup that might have made it pass failed (timeout, SERVFAIL):
# temporary, so the sender's server tries again. 4.7.24 "SPF validation error" (RFC 7372
# §3.3, for temporary SPF errors too) when the SPF record could not be read; else 4.7.5
# "cryptographic failure" (RFC 3463: a key needed to verify was not available).
S451_SPF_TEMPERROR = Reply(
    451, "4.7.24",
    "Your message could not be authenticated just now: the SPF lookup failed; your server"
    " will try again later",
    rule="authentication-unavailable",
)
S451_DKIM_TEMPERROR = Reply(
    451, "4.7.5",
    "Your message could not be authenticated just now: the DKIM key lookup failed; your"
    " server will try again later",
    rule="authentication-unavailable",
)
S501_CONTROL_CHARACTER = Reply(
    501, "5.5.2", "The command contains a control character, which no address can hold"
)
S502_NO_AUTH = Reply(
    502, "5.5.1", "No login here: this server takes mail for its own addresses without one"
)
S550_NUL = Reply(
    550, "5.6.0", "The message contains NUL characters, which mail cannot carry",
    rule="nul-character",
)
S553_SENDER_TOO_LONG = Reply(
    553, "5.1.7", "The sender address is too long: at most 64 characters before the @, "
    "255 after it and 254 in all"
)
S553_RECIPIENT_TOO_LONG = Reply(
    553, "5.1.3", "The recipient address is too long: at most 64 characters before the @, "
    "255 after it and 254 in all"
)
S550_ATTACHMENT = Reply(
    550, "5.7.1", "An attachment of this message is not allowed",
    rule="attachment-not-allowed",
)
# Content rules (SPEC §2.3); `{host}` and `{what}` are filled in by the step.
S550_OFFSITE_LINK = Reply(
    550, "5.7.1",
    "Links to other websites are not allowed in messages here: remove the link to {host} "
    "and send your message again",
    rule="offsite-link",
)
S550_CONTACT_DETAILS = Reply(
    550, "5.7.1",
    "Contact details cannot be shared in messages here (the message has {what}): keep the "
    "conversation on the marketplace and send your message again without it",
    rule="contact-details",
)
S553_BAD_SENDER = Reply(553, "5.1.7", "The sender address is not a valid email address")
S553_BAD_RECIPIENT = Reply(553, "5.1.3", "The recipient address is not a valid email address")
S552_TOO_BIG = Reply(
    552, "5.3.4", "The message is larger than this relay accepts",
    rule="message-too-large",
)
S552_ATTACHMENTS_TOO_BIG = Reply(
    552, "5.3.4", "The attachments together are larger than this relay accepts",
    rule="attachments-too-large",
)
S554_LOOP = Reply(
    554, "5.4.6", "Mail loop detected: the message has passed too many servers",
    rule="mail-loop",
)
S554_MALFORMED = Reply(
    554, "5.6.0", "The message could not be read: it is not valid mail",
    rule="malformed",
)

# Hostile structure (README "Malformed and hostile mail"): what relay cannot read
# with certainty is refused whole, and the reply says what it was.
S554_TOO_DEEP = S554_MALFORMED.but(
    "The message could not be read: its parts are nested more than 10 levels deep"
)
S554_TOO_MANY_PARTS = S554_MALFORMED.but(
    "The message could not be read: it has more than 100 parts"
)
S554_BAD_BOUNDARY = S554_MALFORMED.but(
    "The message could not be read: a multipart boundary is missing, repeated or unclosed"
)
S554_BAD_PART_HEADERS = S554_MALFORMED.but(
    "The message could not be read: a part's headers are incomplete or out of place"
)
S554_DUPLICATE_HEADER = S554_MALFORMED.but(
    "The message could not be read: a part has more than one {name} header"
)
S554_LONG_HEADER = S554_MALFORMED.but(
    "The message could not be read: the {name} header is longer than mail allows"
)
