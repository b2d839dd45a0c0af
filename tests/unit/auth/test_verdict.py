"""The Authentication-Results value of a verdict: RFC 8601 syntax, whatever the message held."""

from __future__ import annotations

import re

from relay.auth.dkim_verify import DkimResult
from relay.auth.spf import SpfResult
from relay.auth.verdict import Verdict
from relay.message import stamp_results
from relay.model import AuthenticationResults

# RFC 8601 §2.2, one resinfo: method=result [(comment)] [reason=value] *(ptype.property=pvalue),
# a value being a token (RFC 2045) or a quoted string, with no line longer than RFC 5322's 998.
_TOKEN = r"[^\x00-\x20()<>@,;:\\\"/\[\]?=\x7f]+"
_QUOTED = r'"(?:[^"\\\r\n]|\\.)*"'
_VALUE = f"(?:{_TOKEN}|{_QUOTED})"
RESINFO = re.compile(rf"[a-z]+={_TOKEN}(?: \([^()\r\n]*\))?(?: reason={_VALUE})?"
                     rf"(?: [a-z]+\.[a-z]+={_VALUE})*")


def verdict(*dkim: DkimResult, spf: SpfResult | None = None) -> Verdict:
    return Verdict(("shop.example",), "192.0.2.7", dkim,
                   spf or SpfResult("none", "shop.example"))


def resinfos(value: str) -> list[str]:
    return value.split(";\r\n\t")


def test_a_plain_verdict() -> None:
    value = verdict(DkimResult("pass", "shop.example", "s1"),
                    spf=SpfResult("fail", "shop.example", "SPF fail - not authorized")).results()
    assert value == ('dkim=pass (aligned with From) header.d=shop.example header.s=s1;\r\n'
                     '\tspf=fail (aligned with From; client 192.0.2.7) '
                     'reason="SPF fail - not authorized" smtp.mailfrom=shop.example')
    assert all(RESINFO.fullmatch(r) for r in resinfos(value))


def test_a_signing_domain_and_selector_from_the_message_cannot_break_the_field() -> None:
    """d= and s= are the sender's text: spaces, a forged property, brackets, a fold, a
    thousand characters. Each comes out as a quoted string, every line under 998 octets."""
    value = verdict(
        DkimResult("permerror", "evil.example header.d=shop.example", "s", "no key"),
        DkimResult("permerror", "a(b", "x;y=z", "no key"),
        DkimResult("permerror", "fold.example\r\n b", "s\x01", "no key"),
        DkimResult("permerror", "x" * 990 + ".example", "y" * 990, "no key"),
        spf=SpfResult("none", ""),
    ).results()
    assert all(RESINFO.fullmatch(r) for r in resinfos(value)), value
    assert 'header.d="evil.example header.d=shop.example"' in value
    assert 'smtp.mailfrom=""' in value
    stamped = stamp_results(b"Subject: hi\r\n\r\nbody\r\n",
                            AuthenticationResults("mx.relay.example", value))
    assert max(len(line) for line in stamped.split(b"\r\n")) <= 998
