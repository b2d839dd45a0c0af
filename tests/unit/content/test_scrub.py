"""Scrubber shortcuts: the byte-level leak check, and skipping text that holds no "@" form."""

from __future__ import annotations

import html
import re
import unicodedata
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.content.scrub import _CHUNK, Scrubber, _compile
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
             "<b></b>", "&shy;", "\u200b", "+tag", "mailto:", " ", "x", " at ", "[at]", " AT ",
             " dot ", "[dot]", "(.)", "shop", "\uff41\uff54", "\uff53\uff48\uff4f\uff50", "that")


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
        scrubber = Scrubber((SELLER,), SELLER_ALIAS)
        for at in ("@", "&#64;", "&#0064", "&#x40;", "&commat;", "%40", "\uff20", "\ufe6b",
                   " [at] ", "(AT)", " at ", " \uff41\uff54 ", "\uff3bat\uff3d", "&nbsp;at ",
                   "{a\uff54}", " @ "):
            assert pattern.search(local + at + domain), at
            assert not scrubber._cannot_match(local + at + domain), at


def reveal(text: str) -> str:
    """What a reader makes of an obfuscated address: the plain spelling, lower case."""
    text = unicodedata.normalize("NFKC", html.unescape(unquote(text)))
    text = re.sub(r"[\u00ad\u034f\u200b-\u200f\u2060-\u2064\ufeff]|<[^<>]*>", "", text)
    text = re.sub(r"\s*[\[({<]\s*(at|dot|\.)\s*[\])}>]\s*", lambda m: " " + m[1] + " ", text,
                  flags=re.I)
    text = re.sub(r"\s+at\s+|\s+@\s+", "@", text, flags=re.I)
    text = re.sub(r"\s+dot\s+|\s+\.\s+|\u3002", ".", text, flags=re.I)
    return text.lower()


def _full_width(c: str) -> str:
    return chr(ord(c) + 0xFEE0) if 0x21 <= ord(c) <= 0x7E else c


_AT_FORMS = ("@", " [at] ", "(at)", " at ", " AT ", "[AT]", "\uff20", " \uff3bat\uff3d ", "&#64;",
             "%40", " @ ", "{at}", "&nbsp;at&nbsp;")
_DOT_FORMS = (".", "[dot]", " dot ", "(.)", " . ", "[.]", "\uff0e", "\u3002", "&#46;", " DOT ")


@st.composite
def obfuscated(draw: st.DrawFn, address: str) -> str:
    """`address` with each character, "@" and "." spelled in one of the ways people hide them."""
    out = []
    for c in address:
        if c == "@":
            out.append(draw(st.sampled_from(_AT_FORMS)))
        elif c == ".":
            out.append(draw(st.sampled_from(_DOT_FORMS)))
        else:
            out.append(draw(st.sampled_from((c, c.upper(), _full_width(c), _full_width(c.upper()),
                                             f"&#{ord(c)};", c + "\u200b"))))
    return "".join(out)


class TestObfuscated:
    @settings(max_examples=300, deadline=None)
    @given(data=st.data(), address=st.sampled_from((SELLER, SELLER_OTHER)),
           before=st.sampled_from(("", "Write to ", "mail: ", "<b>x</b>")),
           after=st.sampled_from(("", " today.", ", thanks", "\n")))
    def test_no_real_address_survives(self, data: st.DataObject, address: str, before: str,
                                      after: str) -> None:
        """Full-width, spelled-out, entity and invisible forms are all found and replaced."""
        text = before + data.draw(obfuscated(address)) + after
        scrubbed = Scrubber((SELLER, SELLER_OTHER), SELLER_ALIAS).scrub(text)
        assert SELLER_ALIAS in scrubbed
        for real in (SELLER, SELLER_OTHER):
            assert real not in reveal(scrubbed), scrubbed

    def test_reader_sees_through_the_disguises(self) -> None:
        """The property's reader is no weaker than a person: it reveals each disguise."""
        local, _, domain = SELLER.partition("@")
        shop, _, tld = domain.partition(".")
        for at in _AT_FORMS:
            for dot in _DOT_FORMS:
                assert SELLER in reveal(local + at + shop + dot + tld), (at, dot)

    @pytest.mark.parametrize("text", [
        "I am at the shop, example follows", "the seller at shop. Example", "look at this",
        "meet at shop dot com",
    ])
    def test_prose_is_left_alone(self, text: str) -> None:
        assert Scrubber((SELLER,), SELLER_ALIAS).scrub(text) == text
