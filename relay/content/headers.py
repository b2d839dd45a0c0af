"""Which headers a part keeps, and how each kept one loses the real addresses it names."""

from __future__ import annotations

import re
from collections.abc import Callable
from email.message import Message

from relay.content.scrub import Scrubber
from relay.message import decode_words

Keep = Callable[[str], bool]

_FORWARDED = frozenset({"from", "to", "cc", "date", "subject", "mime-version"})
# RFC 2231 continuations (`name*0*=...; name*1=...`) joined back, as a lenient client would.
_CONTINUATION = re.compile(r'"?\s*;\s*[^;=\s]+\*[0-9]+\*?=\s*"?')


def content_only(name: str) -> bool:
    """Headers a body part keeps (SPEC §2.4): only those that describe its content."""
    return name.startswith("content-")


def forwarded(name: str) -> bool:
    """Headers an attached message keeps: enough to read it, nothing that traces it."""
    return name in _FORWARDED or name.startswith("content-")


def scrub_headers(part: Message, scrubber: Scrubber, keep: Keep) -> None:
    """Drop the headers `keep` refuses and repeats of the others; scrub the ones left."""
    first: dict[str, tuple[str, str]] = {}
    for name, raw in part.raw_items():
        first.setdefault(name.lower(), (name, str(raw)))
    for lowered, (name, raw) in first.items():
        if not keep(lowered):
            del part[name]
            continue
        if len(part.get_all(name, ())) > 1:
            header = part[name]
            del part[name]
            part[name] = header
        _scrub_header(part, name, raw.replace("\r", "").replace("\n", ""), scrubber)


def _scrub_header(part: Message, name: str, raw: str, scrubber: Scrubber) -> None:
    """Rewrite a header from its decoded form when any reading of it shows an address.

    Three readings: the policy's decoded value (encoded words, RFC 2231 parameters);
    the legacy decoder, which also finds encoded words inside a word; and the raw
    text with parameter continuations joined. Writing the decoded form back drops
    whatever the parser could not read, so nothing hidden there survives.
    """
    decoded = str(part[name])
    legacy = decode_words(raw)
    legacy = raw if legacy is None else legacy
    if scrubber.found(decoded):
        value = scrubber.scrub(decoded)
    elif scrubber.found(legacy):
        value = scrubber.scrub(legacy)
    elif scrubber.found(_CONTINUATION.sub("", raw)):
        value = decoded
    else:
        return
    part.replace_header(name, " ".join(value.splitlines()))

