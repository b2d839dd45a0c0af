"""Reading DATA in large pieces must end exactly where aiosmtpd's line reader would."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.smtp.data_reader import Data, read_data

LINE_LIMIT = 1001


async def _read(*pieces: bytes, size_limit: int | None = None) -> tuple[Data, bytes]:
    """What read_data returns, and what it left in the stream for the next command."""
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    for piece in pieces:
        reader.feed_data(piece)
    reader.feed_eof()
    data = await read_data(reader, size_limit, LINE_LIMIT)
    return data, await reader.read()


def _stuffed(body: bytes) -> bytes:
    """What a client sends for `body` (CRLF lines): dots doubled, then the mark."""
    lines = body.split(b"\r\n")[:-1]
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n"
                    for line in lines) + b".\r\n"


TOKENS = (b"\r\n", b"\n", b"\r", b".", b"a", b".\r\n", b"\n.\r\n", b"..")


def _line_reader(stream: bytes) -> tuple[bytes, bytes]:
    """RFC 5321 §4.5.2 the plain way: CRLF lines up to a lone ".", first dot removed."""
    lines: list[bytes] = []
    position = 0
    while True:
        end = stream.index(b"\r\n", position)
        line, position = stream[position:end], end + 2
        if line == b".":
            return b"".join(line + b"\r\n" for line in lines), stream[position:]
        lines.append(line[1:] if line.startswith(b".") else line)


def _one_line(raw: bytes) -> bytes:
    return raw.replace(b"\r", b"").replace(b"\n", b"")


class TestReadData:
    @pytest.mark.parametrize(("sent", "content"), [
        (b".\r\n", b""),
        (b"one line\r\n.\r\n", b"one line\r\n"),
        (b"\r\n.\r\n", b"\r\n"),
        (b"..starts with a dot\r\nx\r\n...\r\n.\r\n", b".starts with a dot\r\nx\r\n..\r\n"),
        (b".\rx\r\n.\r\n", b"\rx\r\n"),
    ])
    async def test_body_up_to_the_mark(self, sent: bytes, content: bytes) -> None:
        data, rest = await _read(sent + b"QUIT\r\n")
        assert (data.content, rest) == (content, b"QUIT\r\n")

    async def test_a_bare_lf_before_the_dot_is_no_mark(self) -> None:
        """LF "." CRLF must not end DATA: that difference is how SMTP smuggling works."""
        data, rest = await _read(b"a\n.\r\nMAIL FROM:<x@y>\r\n.\r\nQUIT\r\n")
        assert (data.content, rest) == (b"a\n.\r\nMAIL FROM:<x@y>\r\n", b"QUIT\r\n")

    async def test_a_mark_split_across_reads(self) -> None:
        pieces = (b"hello\r", b"\n", b".", b"\r", b"\nQUIT\r\n")
        data, rest = await _read(*pieces)
        assert (data.content, rest) == (b"hello\r\n", b"QUIT\r\n")

    async def test_too_much_mail_is_read_to_the_mark_and_dropped(self) -> None:
        body = b"x" * 70 + b"\r\n"
        data, rest = await _read(body * 100, b".\r\nQUIT\r\n", size_limit=1000)
        assert (data.content, data.line_too_long, rest) == (None, False, b"QUIT\r\n")

    async def test_exactly_the_limit_is_accepted(self) -> None:
        body = b"x" * 998 + b"\r\n"
        data, _ = await _read(body + b".\r\n", size_limit=1000)
        assert data.content == body

    async def test_a_line_over_the_limit_is_refused(self) -> None:
        """aiosmtpd's rule: a line, with its CRLF, may be line_length_limit bytes."""
        data, rest = await _read(b"a" * (LINE_LIMIT - 1) + b"\r\n.\r\nQUIT\r\n")
        assert (data.content, data.line_too_long, rest) == (None, True, b"QUIT\r\n")
        longest = b"short\r\n" + b"a" * (LINE_LIMIT - 2) + b"\r\n"
        data, _ = await _read(longest + b".\r\n")
        assert data.content == longest

    async def test_the_mark_right_after_a_bare_lf_dot(self) -> None:
        """The CRLF that ends LF "." CRLF can begin the real mark."""
        for sent in (b"hi\n.\r\n.\r\nQUIT\r\n", b"x\r\nhi\n.\r\n.\r\nQUIT\r\n"):
            data, rest = await _read(sent)
            assert (data.content, rest) == (sent[:-9], b"QUIT\r\n")

    @given(st.lists(st.sampled_from(TOKENS), max_size=40).map(b"".join),
           st.integers(min_value=1, max_value=16))
    async def test_ends_where_a_line_reader_ends(self, sent: bytes, piece: int) -> None:
        """Any stream of CRs, LFs and dots ends where aiosmtpd's CRLF line reader ends."""
        stream = sent + b"\r\n.\r\nRSET\r\n"
        data, rest = await _read(*(stream[i:i + piece] for i in range(0, len(stream), piece)))
        assert (data.content, rest) == _line_reader(stream)

    @given(st.lists(st.binary(max_size=120).map(_one_line), max_size=30),
           st.integers(min_value=1, max_value=64))
    async def test_any_body_round_trips(self, lines: list[bytes], piece: int) -> None:
        body = b"".join(line + b"\r\n" for line in lines)
        sent = _stuffed(body) + b"RSET\r\n"
        data, rest = await _read(*(sent[i:i + piece] for i in range(0, len(sent), piece)))
        assert (data.content, rest) == (body, b"RSET\r\n")
