"""Long SMTP replies are folded into lines a client will read whole (RFC 5321 §4.5.3.1.5)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from relay.smtp.limits import MAX_REPLY_LINE, fold_reply

words = st.lists(st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=1,
                         max_size=700), min_size=1, max_size=40)


def parts(folded: str) -> list[tuple[str, str, str]]:
    """(code, separator, rest) of each line."""
    return [(line[:3], line[3], line[4:]) for line in folded.split("\r\n")]


def test_a_short_reply_is_left_as_it_is() -> None:
    assert fold_reply("550 5.7.1 no") == "550 5.7.1 no"


@given(words)
def test_every_line_fits_and_names_both_codes(text: list[str]) -> None:
    folded = fold_reply("550 5.7.26 " + " ".join(text))
    lines = parts(folded)
    for index, (code, separator, rest) in enumerate(lines):
        assert len(f"{code}{separator}{rest}".encode()) + 2 <= MAX_REPLY_LINE
        assert code == "550"
        assert separator == (" " if index == len(lines) - 1 else "-")
        assert rest.startswith("5.7.26 ")
    # Nothing is lost: the words come back in order, a cut word in pieces.
    assert "".join(r.removeprefix("5.7.26 ").replace(" ", "") for _, _, r in lines) == \
        "".join(text)


def test_breaks_between_words() -> None:
    text = " ".join(["word"] * 300)
    lines = parts(fold_reply(f"451 4.7.5 {text}"))
    assert len(lines) == 3
    assert all(r.removeprefix("4.7.5 ").split(" ") == ["word"] * len(r.split(" ")[1:])
               for _, _, r in lines)


def test_a_reply_without_an_enhanced_code() -> None:
    lines = parts(fold_reply("500 " + "x " * 400))
    assert [c + s for c, s, _ in lines] == ["500-", "500 "]


def test_a_word_longer_than_a_line_is_cut_at_the_limit() -> None:
    """A 2,000-octet domain name: every line but the last is exactly 512 octets with CRLF."""
    folded = fold_reply("550 5.7.26 signed by " + "é" * 1000 + " only")
    lines = folded.split("\r\n")
    assert len(lines) == 5
    assert all(len(line.encode()) + 2 in (MAX_REPLY_LINE, MAX_REPLY_LINE - 1)
               for line in lines[:-1])
    assert lines[-1].endswith(" only")
