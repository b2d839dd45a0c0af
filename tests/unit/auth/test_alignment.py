"""Relaxed alignment (RFC 7489 §3.1) by the bundled Public Suffix List."""

from __future__ import annotations

import pytest

from relay.auth.alignment import aligned, organisational_domain


@pytest.mark.parametrize(("domain", "organisation"), [
    ("acme-shop.example", "acme-shop.example"),  # not a listed suffix: one label below it
    ("mail.acme-shop.example", "acme-shop.example"),
    ("shop.example.co.uk", "example.co.uk"),  # a two-label public suffix
    ("example.co.uk", "example.co.uk"),
    ("co.uk", "co.uk"),  # a public suffix is its own
    ("a.b.shop.github.io", "shop.github.io"),  # a private suffix counts as public
    ("Mail.Example.COM.", "example.com"),
    ("post.münchen.de", "xn--mnchen-3ya.de"),  # IDNs in A-labels
    ("post.faß.de", "xn--fa-hia.de"),  # IDNA 2008: ß is kept, not mapped to ss
])
def test_organisational_domain(domain: str, organisation: str) -> None:
    assert organisational_domain(domain) == organisation


@pytest.mark.parametrize(("signer", "author", "expected"), [
    ("acme-shop.example", "acme-shop.example", True),
    ("mail.acme-shop.example", "acme-shop.example", True),  # relaxed: a subdomain signs
    ("acme-shop.example", "news.acme-shop.example", True),
    ("bulk-mailer.example", "acme-shop.example", False),
    ("example.co.uk", "shop.example.co.uk", True),
    ("other.co.uk", "example.co.uk", False),  # siblings under a public suffix
    ("co.uk", "example.co.uk", False),  # a suffix signing for a name under it
    ("alice.github.io", "bob.github.io", False),  # two sites on a private suffix
    ("xn--mnchen-3ya.de", "münchen.de", True),
    ("xn--fa-hia.de", "faß.de", True),  # a d= in IDNA 2008 A-labels, a From in U-labels
    ("fass.de", "faß.de", False),
    ("", "acme-shop.example", False),
])
def test_aligned(signer: str, author: str, expected: bool) -> None:
    assert aligned(signer, author) is expected
