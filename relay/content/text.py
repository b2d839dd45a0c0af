"""The readable parts of a parsed message, decoded once and written back in place.

The content steps (HTML, links, contact details) change the text of `tx.parsed`
before the rewrite, so none of them parses the message again and the rewrite
scrubs and re-encodes what they left.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message

from relay.content.transfer import forget

_SEVEN_BIT = policy.default.clone(cte_type="7bit")
MAX_PARTS = 10_000  # a walk stops here: the structure checks refuse far smaller bombs


@dataclass
class TextPart:
    """A text/plain or text/html leaf, its decoded text, and the alternative it is one of."""

    part: Message
    text: str
    alternative: Message | None  # the multipart/alternative parent, if any

    @property
    def is_html(self) -> bool:
        return self.part.get_content_subtype() == "html"

    def replace(self, text: str) -> None:
        """Store `text` as the part's content (UTF-8, 7-bit transfer encoding)."""
        if text != self.text:
            set_text(self.part, text)
            self.text = text


def text_parts(message: Message) -> Iterator[TextPart]:
    """Every text/plain and text/html leaf, attached mail included, without recursion."""
    stack: list[tuple[Message, Message | None]] = [(message, None)]
    seen = 0
    while stack and seen < MAX_PARTS:
        part, parent = stack.pop()
        seen += 1
        payload = part.get_payload()
        if part.is_multipart() and isinstance(payload, list):
            alternative = part if part.get_content_type() == "multipart/alternative" else None
            stack.extend((child, alternative) for child in reversed(payload)
                         if isinstance(child, Message))
        elif part.get_content_type() in ("text/plain", "text/html"):
            yield TextPart(part, decoded_text(part), parent)


def decoded_text(part: Message) -> str:
    """The content with transfer encoding undone, decoded as declared (else as UTF-8)."""
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    charset = part.get_content_charset()
    if charset in (None, "us-ascii", "ascii"):
        charset = "utf-8"  # a superset of the RFC 2045 default
    try:
        return data.decode(charset, "replace")
    except (LookupError, UnicodeError):
        return data.decode("utf-8", "replace")


def set_text(part: Message, text: str) -> None:
    """Replace a text part's content, keeping its other Content-* headers."""
    fresh = EmailMessage(policy=_SEVEN_BIT)
    fresh.set_content(text, subtype=part.get_content_subtype(), charset="utf-8")
    part.set_payload(fresh.get_payload())
    del part["Content-Transfer-Encoding"]
    part["Content-Transfer-Encoding"] = str(fresh["Content-Transfer-Encoding"])
    part.set_param("charset", "utf-8")
    forget(part)
