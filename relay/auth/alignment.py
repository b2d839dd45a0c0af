"""DMARC's relaxed alignment (RFC 7489 §3.1): two domains align when their organisational
domains are the same.

The organisational domain is the registrable one: the public suffix and one label more
(RFC 7489 §3.2), by the Public Suffix List the `publicsuffixlist` package bundles (the
one relay.content.spotting reads), private suffixes included, so two sites under
github.io are two organisations. A name outside any listed suffix counts as under a
one-label suffix ("shop.example" for "mail.shop.example"); a public suffix itself is
its own.
"""

from __future__ import annotations

import idna

from relay.content.spotting import public_suffix_list


def ascii_domain(domain: str) -> str:
    """`domain` lower-cased, without a final dot, in A-labels where it is an IDN.

    By IDNA 2008 (with UTS #46 mapping), as DNS registries and dnspython do: Python's
    own "idna" codec is IDNA 2003, which turns faß.de into fass.de, a domain of its own,
    where a signer's d= says xn--fa-hia.de.
    """
    name = domain.strip().rstrip(".").lower()
    if name.isascii():
        return name
    try:
        return idna.encode(name, uts46=True).decode("ascii")
    except idna.IDNAError:
        pass
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return name


def organisational_domain(domain: str) -> str:
    name = ascii_domain(domain)
    found: str | None = public_suffix_list().privatesuffix(name)
    return found or name


def aligned(domain: str, from_domain: str) -> bool:
    """Whether an authenticated `domain` (DKIM d=, the MAIL FROM domain) counts for a
    message whose From is at `from_domain`."""
    return bool(domain) and organisational_domain(domain) == organisational_domain(from_domain)
