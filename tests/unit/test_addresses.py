"""Alias generation and address normalisation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.addresses import (
    ALIAS_ALPHABET,
    MESSAGE_ID,
    is_relaying_trick,
    local_part_length,
    message_ids,
    new_alias,
    normalise_address,
    relay_message_id,
)


class TestAliases:
    def test_exact_length_including_domain(self) -> None:
        alias = new_alias(35, "relay.example")
        assert len(alias) == 35
        local, domain = alias.split("@")
        assert domain == "relay.example"
        assert set(local) <= set(ALIAS_ALPHABET)

    def test_alphabet_has_no_look_alikes(self) -> None:
        assert not set("01ilo") & set(ALIAS_ALPHABET)

    def test_domain_too_long_for_60_bits(self) -> None:
        """35 characters leave too little randomness beside a long domain."""
        with pytest.raises(ValueError, match="needs at least 13"):
            local_part_length(35, "a-very-long-relay-domain.example")

    def test_aliases_differ(self) -> None:
        assert len({new_alias(35, "relay.example") for _ in range(1000)}) == 1000


class TestNormalise:
    @given(st.sampled_from(["Owner@Acme.Example", "<owner@acme.example>", " OWNER@ACME.EXAMPLE "]))
    def test_case_and_brackets(self, text: str) -> None:
        assert normalise_address(text) == "owner@acme.example"

    @pytest.mark.parametrize("text", ["", "nobody", "a@b@c", "a b@c.example"])
    def test_not_an_address(self, text: str) -> None:
        with pytest.raises(ValueError, match="not an email address"):
            normalise_address(text)

    @pytest.mark.parametrize("local", ["a%b.example", "a!b", '"quoted"', ".dot"])
    def test_relaying_tricks(self, local: str) -> None:
        assert is_relaying_trick(local)

    def test_plain_local_part_is_fine(self) -> None:
        assert not is_relaying_trick("k3m9xq2w7hv4tz8pn5r6b")


class TestMessageIds:
    def test_found_in_a_references_value(self) -> None:
        value = "<a1@shop.example>\r\n <b.2+x@mailbox.example> junk <no space@x> <\u00fc@x>"
        assert message_ids(value) == ["<a1@shop.example>", "<b.2+x@mailbox.example>"]

    @given(st.text(st.characters(codec="utf-8"), max_size=60))
    def test_what_threading_finds_the_rewrite_can_write(self, text: str) -> None:
        """One pattern: an id read from a reply is one the rewrite would put back."""
        for found in message_ids(f"<{text}>"):
            assert MESSAGE_ID.fullmatch(found)

    def test_the_relays_own_form(self) -> None:
        assert MESSAGE_ID.fullmatch(relay_message_id("0" * 32, "relay.example"))
