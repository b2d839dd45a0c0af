"""Reading an SMTP DATA body in a few large reads instead of one per line.

aiosmtpd reads DATA line by line and keeps a bytearray per line, which costs
more CPU at 1 MiB than the rest of the relay and about three times the
message in memory. Here the stream is searched for the end-of-data mark
(RFC 5321 §4.5.2) with StreamReader.readuntil, which scans its buffer in C,
and nothing past the mark is consumed, so the session carries on exactly as
aiosmtpd's would.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

# The mark is CRLF "." CRLF. Searching for LF "." CRLF lets the first read
# start right after a CR, so an empty or one-line body is found too; every hit
# is then checked for the CR in front of it.
_MARK = b"\n.\r\n"
_KEEP = len(_MARK)  # bytes left in the buffer when discarding, in case a mark straddles


@dataclass(frozen=True)
class Data:
    content: bytes | None  # None: over the size limit or a line too long; nothing kept
    line_too_long: bool = False


async def read_data(reader: asyncio.StreamReader, size_limit: int | None,
                    line_limit: int) -> Data:
    """The body up to the end-of-data mark, dot-unstuffed; CancelledError if the peer goes."""
    cap = size_limit or (1 << 62)
    saved = reader._limit  # type: ignore[attr-defined]  # no public way to read one big piece
    reader._limit = cap + len(_MARK) + 1  # type: ignore[attr-defined]
    try:
        return await _read(reader, cap, line_limit)
    finally:
        reader._limit = saved  # type: ignore[attr-defined]


async def _read(reader: asyncio.StreamReader, cap: int, line_limit: int) -> Data:
    parts: list[bytes] = []
    size, last, too_big = 0, b"", False
    at_line_start = True  # DATA's own line has just ended in CRLF
    while True:
        try:
            if at_line_start:
                # A mark that starts here has no LF in front of it to search for:
                # read to the first CR and see whether the line is a lone dot.
                piece = await reader.readuntil(b"\r")
                if piece == b".\r":
                    follow = await reader.readexactly(1)
                    piece += follow
                    ended = follow == b"\n"
                else:
                    ended = False
            else:
                piece = await reader.readuntil(_MARK)
                before = piece[-5:-4] if len(piece) >= 5 else last
                ended = before == b"\r"
        except asyncio.LimitOverrunError as overrun:
            # Too much mail data: drop what is buffered, keep reading to the mark.
            dropped = await reader.readexactly(max(overrun.consumed - _KEEP, 1))
            last, size, too_big, at_line_start = dropped[-1:], size + len(dropped), True, False
            parts.clear()
            continue
        size += len(piece)
        if size - 3 > cap:  # the mark's ".\r\n" is not mail data
            too_big = True
            parts.clear()
        elif not too_big:
            parts.append(piece)
        if ended:
            break
        last = piece[-1:]
        # A bare LF "." CRLF is no mark, but its CRLF may begin the real one.
        at_line_start = not at_line_start and piece.endswith(b"\r\n")
    del piece
    if too_big:
        return Data(None)
    raw = b"".join(parts)  # mostly one read, one piece: no copy
    parts.clear()
    end = len(raw) - 3  # every way out leaves the mark's ".\r\n" last
    if _has_long_line(raw, line_limit):
        return Data(None, line_too_long=True)
    stuffed = raw.startswith(b".") or raw.find(b"\r\n.", 0, end) >= 0
    content = raw[:end]
    del raw
    if stuffed:  # rare, and a second copy only then
        content = content.replace(b"\r\n.", b"\r\n")
        content = content[1:] if content.startswith(b".") else content
    return Data(content)


def _has_long_line(data: bytes, limit: int) -> bool:
    """Is any line, with its line ending, longer than `limit` bytes (aiosmtpd's rule)?

    Hops from line start to the last LF within reach, so a message of short
    lines takes len/limit C-level searches, not one per line.
    """
    reach = limit
    position, end = 0, len(data)
    while end - position > reach:
        lf = data.rfind(b"\n", position, position + reach)
        if lf < 0:
            return True
        position = lf + 1
    return False
