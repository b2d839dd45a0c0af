"""How every view of a message hides the parties (SPEC §6): each real address becomes its alias.

`message show` and `archive export` both read the map from the store
(`ArchivedMessage.hidden`, `DisputeMessage.hidden`) and replace through `hider`.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Callable
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import Message

_MODERN = email.policy.default.clone(linesep="\n")


def hider(hidden: dict[str, str]) -> Callable[[str], str]:
    """Replace each real address (any case) by its alias."""
    if not hidden:
        return lambda text: text
    pattern = re.compile("|".join(re.escape(a) for a in sorted(hidden, key=len, reverse=True)),
                         re.IGNORECASE)
    lowered = {a.lower(): alias for a, alias in hidden.items()}
    return lambda text: pattern.sub(lambda m: lowered[m.group(0).lower()], text)


def aliased(source: bytes, hidden: dict[str, str]) -> Message:
    """The message with every real address in `hidden` as its alias, for a whole-message view.

    Parsed the light way (compat32: a header is decoded only when it holds an
    encoded word). A header, or a text part, that held an address is decoded,
    hidden and written back encoded; everything else passes byte for byte.
    """
    message = email.message_from_bytes(source)
    hide = hider(hidden)
    for part in message.walk():
        _headers(part, hide)
        if part.get_content_maintype() == "text" and not part.is_multipart():
            _text(part, hide)
    return message


def _headers(part: Message, hide: Callable[[str], str]) -> None:
    for name in dict.fromkeys(part.keys()):
        raws = [raw for raw in part.get_all(name, []) if isinstance(raw, str)]
        values = [_decoded(raw) for raw in raws]
        shown = [hide(value) for value in values]
        if shown == values:
            continue
        written = [raw if after == before else after if after.isascii()
                   else _encoded(name, after)
                   for raw, before, after in zip(raws, values, shown, strict=True)]
        if len(written) == 1:
            part.replace_header(name, written[0])  # in its place
            continue
        del part[name]  # all of them, written back in their order
        for value in written:
            part[name] = value


def _decoded(raw: str) -> str:
    if "=?" not in raw:
        return raw
    try:
        return str(make_header(decode_header(raw)))
    except (HeaderParseError, LookupError, UnicodeError):
        return raw


def _encoded(name: str, value: str) -> str:
    """A header value with RFC 2047 words where it needs them, addresses left readable."""
    folded = str(_MODERN.fold(name, value))
    return folded[len(name) + 2:].rstrip("\n")


def _text(part: Message, hide: Callable[[str], str]) -> None:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return
    charset = part.get_content_charset() or "us-ascii"
    try:
        text = payload.decode(charset)
    except (LookupError, UnicodeError):
        return  # not decodable: no reader sees an address in it either
    shown = hide(text)
    if shown == text:
        return
    del part["Content-Transfer-Encoding"]
    part.set_payload(shown, "utf-8")
