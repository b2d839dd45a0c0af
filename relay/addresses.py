"""Pure address helpers: aliases, normalisation, relaying tricks, and Message-IDs (one of each)."""

from __future__ import annotations

import math
import re
import secrets
from email.headerregistry import Address
from email.utils import getaddresses

# Lower-case letters and digits without the look-alikes 0/o, 1/l/i: an alias read
# aloud or copied by hand still routes.
ALIAS_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
MIN_ENTROPY_BITS = 60
_BITS_PER_CHAR = math.log2(len(ALIAS_ALPHABET))
# RFC 5322 §3.6.4: a msg-id is printable ASCII in angle brackets, none inside.
MESSAGE_ID = re.compile(r"<[\x21-\x3b\x3d\x3f-\x7e]+>")


def local_part_length(total_length: int, domain: str) -> int:
    """Characters left for the random part once `@domain` is counted in `total_length`."""
    local = total_length - 1 - len(domain)
    needed = math.ceil(MIN_ENTROPY_BITS / _BITS_PER_CHAR)
    if local < needed:
        raise ValueError(
            f"{total_length} characters leave {max(local, 0)} for the random part of an "
            f"alias at {domain}; it needs at least {needed}"
        )
    return local


def new_alias(total_length: int, domain: str) -> str:
    """A fresh random alias exactly `total_length` characters long, domain included."""
    size = local_part_length(total_length, domain)
    local = "".join(secrets.choice(ALIAS_ALPHABET) for _ in range(size))
    return f"{local}@{domain}"


def normalise_address(address: str) -> str:
    """The lower-cased bare address (angle brackets and display name removed).

    Mail addresses are compared case-insensitively throughout relay (SPEC §2.4):
    real-world mail systems treat local parts that way even though RFC 5321 need not.
    """
    text = address.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].strip()
    local, _, domain = text.rpartition("@")
    quoted = local.startswith('"') and local.endswith('"') and len(local) > 1
    if (
        not local
        or not domain
        or ("@" in local and not quoted)
        or any(c.isspace() for c in (domain if quoted else text))
    ):
        raise ValueError(f"{address!r} is not an email address")
    return f"{local}@{domain}".lower()


def header_addresses(values: list[str]) -> list[str]:
    """Bare, lower-cased addresses named in header values such as From."""
    found = []
    for _name, addr in getaddresses(values):
        if "@" in addr:
            found.append(addr.lower())
    return found


def is_relaying_trick(local_part: str) -> bool:
    """True for local parts that try to route onwards: %-hack, !-paths, quoting, @ inside."""
    return any(c in local_part for c in '%!@"\\') or local_part.startswith(".")


def split(address: str) -> tuple[str, str]:
    local, _, domain = address.rpartition("@")
    return local, domain


def format_address(display_name: str, address: str) -> str:
    """RFC 5322 mailbox with the display name quoted or encoded as needed."""
    local, domain = split(address)
    return str(Address(display_name=display_name, username=local, domain=domain))


def relay_message_id(message_id: str, domain: str) -> str:
    """The Message-ID the relay gives a message it sends (a delivered copy, a notice)."""
    return f"<{message_id}@{domain}>"


def message_ids(value: str | None) -> list[str]:
    """The `<id>` tokens of a Message-ID, In-Reply-To or References value."""
    return MESSAGE_ID.findall(value or "")

