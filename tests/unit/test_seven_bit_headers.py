"""SevenBitHeaders: whatever bytes a header arrived with, it leaves in 7 bits, meaning kept."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

from hypothesis import given, settings
from hypothesis import strategies as st

from relay.message import SMTP_7BIT_HEADERS, seven_bit_head

NAMES = ["Subject", "From", "To", "Content-Type", "Content-Disposition", "Content-Description",
         "Message-ID", "References", "Date", "X-Anything"]


@settings(max_examples=500, deadline=None)
@given(name=st.sampled_from(NAMES),
       raw=st.binary(min_size=1, max_size=120).map(lambda b: b.replace(b"\r", b"").replace(
           b"\n", b"")).filter(lambda b: not b.isascii()))
def test_any_raw_header_folds_to_ascii(name: str, raw: bytes) -> None:
    """Raw 8-bit as a parser hands it over (surrogates): ASCII out, never an exception."""
    folded = SMTP_7BIT_HEADERS.fold_binary(name, raw.decode("ascii", "surrogateescape"))
    assert folded.isascii()
    assert folded.endswith(b"\r\n")


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=80).map(lambda t: " ".join(t.split())).filter(
    lambda t: t and not t.isascii()))
def test_utf8_subject_reads_the_same(subject: str) -> None:
    raw = b"Subject: " + subject.encode("utf-8", "surrogatepass") + b"\r\n\r\nbody\r\n"
    out = seven_bit_head(raw)
    assert out.partition(b"\r\n\r\n")[0].isascii()
    parsed = BytesParser(policy=policy.default).parsebytes(out)
    assert " ".join(str(parsed["Subject"]).split()) == subject


def test_latin1_is_read_as_latin1_and_the_body_is_left_alone() -> None:
    raw = "Subject: Größe\r\n\r\nGrüße\r\n".encode("latin-1")
    out = seven_bit_head(raw)
    assert out.endswith("\r\n\r\nGrüße\r\n".encode("latin-1"))
    assert BytesParser(policy=policy.default).parsebytes(out)["Subject"] == "Größe"


def test_ascii_is_returned_unchanged() -> None:
    raw = b"Subject: plain\r\nX-Long: " + b"a " * 100 + b"\r\n\r\nbody\r\n"
    assert seven_bit_head(raw) is raw
