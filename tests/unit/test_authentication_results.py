"""stamp_results: our verdict on top of the received form, no forged one claiming our id."""

from __future__ import annotations

import time

from relay.message import stamp_results
from relay.model import AuthenticationResults

OURS = AuthenticationResults("mx.relay.example", "dkim=pass header.d=shop.example")


def test_ours_on_top_and_a_forged_one_removed() -> None:
    received = (b"Received: from x\r\n"
                b"Authentication-Results: MX.Relay.Example; dkim=pass\r\n"
                b"Authentication-Results: (comment) mx.relay.example 1;\r\n\tspf=pass\r\n"
                b"authentication-results:mx.relay.example;none\r\n"
                b"Authentication-Results: \"mx.relay.example\"; dkim=pass\r\n"
                b"Authentication-Results: (a (nested) comment)\r\n mx.relay.example; spf=pass\r\n"
                b"Authentication-Results: mx.relay.example.evil; spf=pass\r\n"
                b"Authentication-Results: isp.example; dkim=pass\r\n"
                b"Subject: hi\r\n\r\nAuthentication-Results: mx.relay.example; body\r\n")
    assert stamp_results(received, OURS) == (
        b"Authentication-Results: mx.relay.example;\r\n\tdkim=pass header.d=shop.example\r\n"
        b"Received: from x\r\n"
        b"Authentication-Results: mx.relay.example.evil; spf=pass\r\n"
        b"Authentication-Results: isp.example; dkim=pass\r\n"
        b"Subject: hi\r\n\r\nAuthentication-Results: mx.relay.example; body\r\n")


def test_a_message_without_a_body() -> None:
    assert stamp_results(b"Subject: hi\r\n", OURS).endswith(b"\r\nSubject: hi\r\n")


def test_comments_nested_deep_are_read_in_one_pass() -> None:
    """A sender may nest parentheses by the thousand before the authserv-id."""
    depth = 200_000
    forged = (b"Authentication-Results: " + b"(" * depth + b")" * depth
              + b" mx.relay.example; dkim=pass\r\n")
    started = time.monotonic()
    stamped = stamp_results(forged + b"Subject: hi\r\n\r\n", OURS)
    assert time.monotonic() - started < 1
    assert stamped.endswith(b"\r\nSubject: hi\r\n\r\n")
    assert forged not in stamped
