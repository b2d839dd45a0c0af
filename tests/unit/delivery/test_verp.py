"""Signed VERP bounce addresses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.delivery.verp import bounce_address, is_bounce_form, parse_bounce_address

KEY = b"k" * 32
ID = "0123456789abcdef0123456789abcdef"
DOMAIN = "relay.example"


class TestBounceAddress:
    def test_round_trip(self) -> None:
        assert parse_bounce_address(bounce_address(ID, DOMAIN, KEY), DOMAIN, KEY) == ID

    def test_shape(self) -> None:
        """Lower-case, prefixed, with a local part inside RFC 5321's 64 octets."""
        address = bounce_address(ID, "Relay.Example", KEY)
        local, domain = address.split("@")
        assert address == address.lower()
        assert local.startswith(f"bounce-{ID}-")
        assert len(local) <= 64
        assert domain == DOMAIN

    def test_any_case(self) -> None:
        address = bounce_address(ID, DOMAIN, KEY).upper()
        assert parse_bounce_address(address, "RELAY.example", KEY) == ID

    def test_not_a_message_id(self) -> None:
        with pytest.raises(ValueError, match="not a message id"):
            bounce_address("../../etc", DOMAIN, KEY)

    def test_tampered_signature(self) -> None:
        address = bounce_address(ID, DOMAIN, KEY)
        local, domain = address.split("@")
        flipped = local[:-1] + ("0" if local[-1] != "0" else "1")
        assert parse_bounce_address(f"{flipped}@{domain}", DOMAIN, KEY) is None

    def test_tampered_id(self) -> None:
        """A signature is good for its own message id only."""
        other = "f" + ID[1:]
        signature = bounce_address(ID, DOMAIN, KEY).split("@")[0].rsplit("-", 1)[1]
        assert parse_bounce_address(f"bounce-{other}-{signature}@{DOMAIN}", DOMAIN, KEY) is None

    def test_other_domain(self) -> None:
        address = bounce_address(ID, "elsewhere.example", KEY)
        assert parse_bounce_address(address, DOMAIN, KEY) is None

    def test_other_key(self) -> None:
        address = bounce_address(ID, DOMAIN, KEY)
        assert parse_bounce_address(address, DOMAIN, b"another key") is None

    def test_unsigned(self) -> None:
        assert parse_bounce_address(f"bounce-{ID}@{DOMAIN}", DOMAIN, KEY) is None

    @pytest.mark.parametrize(
        "address",
        ["", "@", "bounce-@relay.example", f"bounce-{ID}-@relay.example",
         f"bounce-{ID}-xyz@relay.example", "no-at-sign", f"bounce-{ID}-{'0' * 16}@",
         "bounce-\u212a@relay.example", "\x00@relay.example"],
    )
    def test_malformed(self, address: str) -> None:
        assert parse_bounce_address(address, DOMAIN, KEY) is None

    @given(st.text())
    def test_never_raises(self, address: str) -> None:
        assert parse_bounce_address(address, DOMAIN, KEY) is None


class TestBounceForm:
    @pytest.mark.parametrize("local", ["bounce-x", "BOUNCE-1-2", f"bounce-{ID}-0000"])
    def test_bounce_like(self, local: str) -> None:
        assert is_bounce_form(local)

    @pytest.mark.parametrize("local", ["bounce", "x7k2mnp", "postmaster", "bouncer-1"])
    def test_not_bounce_like(self, local: str) -> None:
        assert not is_bounce_form(local)
