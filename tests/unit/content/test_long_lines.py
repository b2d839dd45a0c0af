"""has_long_line(): the RFC 5322 line-length check, a chunk of lines at a time."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.content.rewrite import _CHUNK, MAX_LINE, has_long_line


def _crlf(data: bytes) -> list[bytes]:
    return data.split(b"\r\n")


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    """Short CRLF lines for two chunks, with lines near the limit and odd endings put in."""
    data = bytearray((b"a" * 76 + b"\r\n") * draw(st.sampled_from((0, 1, 2 * _CHUNK // 78))))
    for _ in range(draw(st.integers(0, 4))):
        at = min(78 * draw(st.integers((_CHUNK - 1100) // 78, _CHUNK // 78 + 1)), len(data))
        length = draw(st.sampled_from((0, MAX_LINE - 1, MAX_LINE, MAX_LINE + 1)))
        ending = draw(st.sampled_from((b"\r\n", b"\n", b"\r", b"\n\r", b"")))
        data[at:at] = b"b" * length + ending
    return bytes(data)


class TestHasLongLine:
    @settings(max_examples=200, deadline=None)
    @given(data=lines())
    @pytest.mark.parametrize("split", [bytes.splitlines, _crlf])
    def test_same_as_splitting_it_all(self, split: Callable[[bytes], list[bytes]],
                                      data: bytes) -> None:
        """Chunked, the check says what a check over every line at once says."""
        assert has_long_line(data, split) == any(len(line) > MAX_LINE for line in split(data))

    @pytest.mark.parametrize("split", [bytes.splitlines, _crlf])
    @pytest.mark.parametrize("ending", [b"\r\n", b"\n", b"\r"])
    def test_line_across_a_chunk_end_is_measured_whole(
        self, split: Callable[[bytes], list[bytes]], ending: bytes,
    ) -> None:
        """A line that starts in one chunk and ends in the next is measured whole."""
        for length in (MAX_LINE, MAX_LINE + 1):
            # The line ends just before or after the chunk size, or starts there.
            for start in (*range(_CHUNK - length - 4, _CHUNK - length + 4),
                          *range(_CHUNK - 4, _CHUNK + 4)):
                short, rest = divmod(start - 2, 78)
                lead = b"a" * rest + b"\r\n" + (b"a" * 76 + b"\r\n") * short
                data = lead + b"b" * length + ending + b"a\r\n"
                expected = any(len(line) > MAX_LINE for line in split(data))
                assert has_long_line(data, split) == expected, (length, start)
