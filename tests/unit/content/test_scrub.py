"""Scrubber shortcuts: the byte-level leak check, and skipping text that holds no "@" form."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.content.scrub import _CHUNK, AT_MARKS, Scrubber, _compile
from tests.unit.content.messages import BUYER, SELLER, SELLER_ALIAS, SELLER_OTHER

PIECES = (SELLER.upper(), SELLER, "sel", "ler@shop.example", BUYER, BUYER.upper(), "buyer@mail",
          ".example", "@", "\r\n")


@st.composite
def around_chunk_ends(draw: st.DrawFn) -> bytes:
    """Up to three chunks of filler with pieces of addresses dropped near the chunk ends."""
    data = bytearray(b"x" * draw(st.sampled_from((0, 40, _CHUNK, 2 * _CHUNK + 7))))
    for _ in range(draw(st.integers(0, 6))):
        at = draw(st.sampled_from((0, _CHUNK, 2 * _CHUNK))) + draw(st.integers(-40, 40))
        at = min(max(at, 0), len(data))
        pieces = draw(st.lists(st.sampled_from(PIECES), min_size=1, max_size=3))
        data[at:at] = "".join(pieces).encode()
    return bytes(data)


class TestLeaksOutside:
    @settings(max_examples=300, deadline=None)
    @given(data=around_chunk_ends(), skip=st.sampled_from((BUYER, "", SELLER, "e")))
    def test_same_as_on_the_whole_message(self, data: bytes, skip: str) -> None:
        """A chunk at a time, it finds exactly what the check on one lower-cased copy finds."""
        scrubber = Scrubber((SELLER, SELLER_OTHER), SELLER_ALIAS)
        whole = scrubber.leaks(data.lower().replace(skip.encode(), b""))
        assert scrubber.leaks_outside(data, skip.encode()) == whole

    @pytest.mark.parametrize("skip", ["", BUYER])
    def test_address_across_a_chunk_end_is_found(self, skip: str) -> None:
        """An address split by the end of a chunk still counts, wherever it is split."""
        scrubber = Scrubber((SELLER,), SELLER_ALIAS)
        for offset in range(len(SELLER) + len(skip) + 2):
            data = b"x" * (_CHUNK - offset) + SELLER.upper().encode() + b"x" * 10
            assert scrubber.leaks_outside(data, skip.encode()), offset

    def test_address_joined_by_cutting_the_skipped_one_is_found(self) -> None:
        """Cutting the recipient out may join an address; across a chunk end too."""
        data = b"x" * (_CHUNK - 10) + f"sel{BUYER}ler@shop.example".encode()
        assert Scrubber((SELLER,), SELLER_ALIAS).leaks_outside(data, BUYER.encode())

    def test_skipped_address_is_not_a_leak(self) -> None:
        """A sender address inside the recipient's, cut out with it, is no leak."""
        data = b"x" * (_CHUNK - 3) + f"big{SELLER}".encode()
        assert not Scrubber((SELLER,), SELLER_ALIAS).leaks_outside(data, f"big{SELLER}".encode())


DISGUISES = ("seller", "orders", "shop.example", "&#64;", "&#x40;", "&commat;", "%40", "\uff20",
             "<b></b>", "&shy;", "\u200b", "+tag", "mailto:", " ", "x")


class TestNoAtNoMatch:
    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.sampled_from(PIECES[:-1] + DISGUISES), max_size=12).map("".join))
    def test_skipping_text_without_an_at_mark_changes_nothing(self, text: str) -> None:
        """The shortcut answers exactly what the full pattern answers."""
        scrubber = Scrubber((SELLER, SELLER_OTHER), SELLER_ALIAS)
        pattern = _compile((SELLER, SELLER_OTHER))
        assert scrubber.found(text) == (pattern.search(text) is not None)
        assert scrubber.scrub(text) == pattern.sub(SELLER_ALIAS, text)

    def test_every_form_of_at_holds_a_mark(self) -> None:
        """What makes the shortcut sound: each spelling of "@" the pattern takes has a mark."""
        pattern = _compile((SELLER,))
        local, _, domain = SELLER.partition("@")
        for at in ("@", "&#64;", "&#0064", "&#x40;", "&commat;", "%40", "\uff20", "\ufe6b"):
            assert pattern.search(local + at + domain), at
            assert any(mark in at for mark in AT_MARKS), at
