"""Test messages of a given size, as a seller's mail client would write them.

Small messages are one text/plain part. From 64 KiB up the size is mostly a
base64 PDF attachment, as real large mail is. Neither contains links or
addresses, so no content rule (when it lands) should refuse them.
"""

from __future__ import annotations

import base64
import random
import uuid

ATTACHMENT_FROM = 64 * 1024
_WORDS = (
    "parcel", "order", "delivery", "tracking", "thanks", "hello", "regards", "shop", "item",
    "colour", "size", "tomorrow", "invoice", "warehouse", "courier", "refund", "question",
    "answer", "kindly", "please",
)


def _text(size: int, rng: random.Random) -> str:
    """Roughly `size` bytes of prose in lines of at most 76 characters, CRLF-ended."""
    lines: list[str] = []
    total = 0
    while total < size:
        words: list[str] = []
        length = 0
        while length < 70:
            word = rng.choice(_WORDS)
            words.append(word)
            length += len(word) + 1
        line = " ".join(words)[:76]
        lines.append(line)
        total += len(line) + 2
    return "\r\n".join(lines) + "\r\n"


def _base64_lines(data: bytes) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return "\r\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76)) + "\r\n"


def body(size: int, seed: int = 1) -> bytes:
    """Everything after the Message-ID header: about `size` bytes with the headers."""
    rng = random.Random(seed)
    common = (
        "Subject: Your order 112-0001\r\n"
        "Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
    )
    if size < ATTACHMENT_FROM:
        text = common + "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        return (text + _text(max(size - len(text) - 150, 64), rng)).encode()
    boundary = "=_bench_" + uuid.UUID(int=rng.getrandbits(128)).hex
    raw_size = max((size - 2048) * 57 // 78, 1024)  # base64 and CRLFs add ~37%
    pdf = b"%PDF-1.4\n" + rng.randbytes(raw_size)
    text = (
        common
        + f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
        + f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + _text(1024, rng)
        + f"--{boundary}\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\n"
        + "Content-Disposition: attachment; filename=\"invoice.pdf\"\r\n"
        + "Content-Transfer-Encoding: base64\r\n\r\n"
        + _base64_lines(pdf)
        + f"--{boundary}--\r\n"
    )
    return text.encode()


def header(sender: str, recipient: str) -> bytes:
    """The per-message part: addresses and a fresh Message-ID."""
    return (
        f"From: Owner <{sender}>\r\nTo: {recipient}\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@client.example>\r\n"
    ).encode()
