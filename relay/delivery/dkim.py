"""DKIM-signs what relay sends (RFC 6376), as the transport's last change before the bytes go.

The transport calls `Signer.sign` once it has made the message exactly what the
upstream gets (a 7-bit re-encoding included), so what is signed is what is sent.
"""

from __future__ import annotations

import asyncio
import base64
from collections import Counter
from typing import Any

import dkim
import structlog
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from relay.dkim_keys import SigningKey

log = structlog.get_logger("relay.delivery")

# What a reader sees and acts on, and what decides how the body is read (RFC 6376 §5.4.1).
SIGNED = (
    "from", "sender", "reply-to", "to", "cc", "subject", "date", "message-id",
    "in-reply-to", "references", "mime-version", "content-type", "content-transfer-encoding",
    "content-disposition", "content-id", "content-description", "content-language",
    "auto-submitted", "list-unsubscribe", "list-unsubscribe-post",
)
# Signed once more than they occur (RFC 6376 §8.15): nobody on the way can add another
# From, Sender, Reply-To, To, Cc or Subject that a reader would take for ours. Date and
# Message-ID are not: a smarthost may add one to a copy passed on without it.
OVERSIGNED = frozenset({"from", "sender", "reply-to", "to", "cc", "subject"})
CANONICALIZATION = (b"relaxed", b"relaxed")
ON_LOOP_MAX = 32 * 1024  # bytes signed on the event loop; larger in a thread (see Signer.sign)


def signed_headers(message: bytes) -> list[bytes]:
    """The h= list for this message: each SIGNED field as often as it occurs, plus one for
    OVERSIGNED ones (an absent one is signed as absent)."""
    end = message.find(b"\r\n\r\n")
    head = message[: end if end >= 0 else len(message)]
    counts = Counter(
        line.partition(b":")[0].strip().lower().decode("ascii", "replace")
        for line in head.split(b"\r\n") if line and line[:1] not in (b" ", b"\t")
    )
    names: list[bytes] = []
    for name in SIGNED:
        times = counts[name] + (1 if name in OVERSIGNED else 0)
        names.extend([name.encode()] * times)
    return names


class OpenSSLSigned(dkim.DKIM):  # type: ignore[misc]  # dkimpy has no type hints
    """dkimpy's DKIM signer with its RSA step done by OpenSSL (`cryptography`).

    dkimpy canonicalises, hashes the body and headers and writes the DKIM-Signature
    field well; its RSA is pure-Python modular arithmetic, about 6 ms a 2048-bit
    signature against 0.5 ms in OpenSSL. The signature is made inside
    `DomainSigner.gen_header`, which has no hook for it, so this overrides that one
    method: the same steps with dkimpy's own helpers (fold, hash_headers, which blanks b=),
    only the digest signed by `cryptography`. RSASSA-PKCS1-v1_5 is deterministic, so
    the result is byte for byte dkimpy's (tests/unit/delivery/test_dkim.py checks it).
    Only rsa-sha256 without `standardize` (ARC's form) is handled: all relay signs.
    """

    def __init__(self, message: bytes, key: rsa.RSAPrivateKey) -> None:
        super().__init__(message)
        self.rsa_key = key

    def gen_header(self, fields: list[tuple[bytes, bytes]], include_headers: tuple[bytes, ...],
                   canon_policy: Any, header_name: bytes, pk: object,
                   standardize: bool = False) -> bytes:
        if standardize or self.signature_algorithm != b"rsa-sha256":
            raise dkim.ParameterError("only rsa-sha256 DKIM-Signature fields are signed here")
        value = dkim.fold(b"; ".join(b"=".join(x) for x in fields),
                          namelen=len(header_name), linesep=b"\r\n")
        hasher = self.hasher()
        self.signed_headers = dkim.hash_headers(
            hasher, canon_policy, canon_policy.canonicalize_headers(self.headers),
            include_headers, (header_name, b" " + value), dict(fields))
        signature = self.rsa_key.sign(hasher.digest(), padding.PKCS1v15(),
                                      utils.Prehashed(hashes.SHA256()))
        fields = [(tag, base64.b64encode(signature) if tag == b"b" else v) for tag, v in fields]
        folded: bytes = dkim.fold(b"; ".join(b"=".join(x) for x in fields) + self.linesep,
                                  namelen=len(header_name), linesep=self.linesep)
        return folded


def sign(key: SigningKey, message: bytes) -> bytes:
    """The message with its DKIM-Signature on top."""
    signature: bytes = OpenSSLSigned(message, key.private_key).sign(
        key.selector.encode(), key.domain.encode(), key.pem,
        canonicalize=CANONICALIZATION, include_headers=signed_headers(message),
    )
    return signature + message


class Signer:
    """The key in use (None: no `[dkim]`); a reload puts in the key it has read."""

    def __init__(self, key: SigningKey | None = None) -> None:
        self.key = key

    async def sign(self, message: bytes) -> bytes:
        """Small messages are signed on the event loop, larger ones in a thread: with
        OpenSSL a 5 KiB message costs about 0.7 ms and 32 KiB 1.4 ms, less than the
        loop already spends on each, and in a thread the hop and the GIL's hand-backs
        added about 0.4 ms of CPU to a 5 KiB one; a 1 MiB body costs tens of
        milliseconds the loop must not wait for. A message dkimpy cannot parse (mail
        passed on as it came) goes unsigned rather than not at all."""
        key = self.key
        if key is None:
            return message
        try:
            if len(message) <= ON_LOOP_MAX:
                return sign(key, message)
            return await asyncio.to_thread(sign, key, message)
        except dkim.DKIMException as exc:
            log.warning("dkim.not_signed", error=str(exc))
            return message
