"""DKIM keys (RFC 6376): read and checked for signing, made for `relay dkim keygen`, published.

`relay serve`, a SIGHUP reload and `check-config` read the key here, so all
three name the same file for the same mistake.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from relay.config import ConfigError, DkimSettings

KEY_BITS = 2048  # RFC 8301 §3.2: at least 1024, 2048 where DNS allows (it does, split)
MIN_BITS = 1024  # RFC 8301 §3.2: verifiers fail smaller keys


@dataclass(frozen=True)
class SigningKey:
    """What signing needs, read once: the key as dkimpy takes it (PKCS#1 PEM)."""

    domain: str
    selector: str
    path: Path
    pem: bytes = field(repr=False)

    @cached_property
    def private_key(self) -> rsa.RSAPrivateKey:
        """The key as OpenSSL signs with it, parsed on first use."""
        key = serialization.load_pem_private_key(self.pem, password=None)
        assert isinstance(key, rsa.RSAPrivateKey)  # load_key let only RSA through
        return key


def load_key(settings: DkimSettings) -> SigningKey | None:
    """The configured key, checked; None without `[dkim]`. Trouble is a ConfigError."""
    path = settings.private_key_file
    if path is None or settings.selector is None or settings.domain is None:
        return None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"dkim.private_key_file: cannot read {path} "
                          f"({exc.strerror or exc})") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise ConfigError(f"dkim.private_key_file: {path} is not an unencrypted PEM private key"
                          " (make one with `relay dkim keygen`)") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(f"dkim.private_key_file: {path} is not an RSA key")
    if key.key_size < MIN_BITS:
        raise ConfigError(f"dkim.private_key_file: {path} has {key.key_size} bits; receivers "
                          f"refuse fewer than {MIN_BITS} (make one with `relay dkim keygen`)")
    pem = key.private_bytes(serialization.Encoding.PEM,
                            serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    return SigningKey(settings.domain, settings.selector, path, pem)


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)


def private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def txt_value(key: rsa.RSAPrivateKey) -> str:
    """The TXT record's value (RFC 6376 §3.6.1): the public key, base64 of its DER."""
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


def record_name(selector: str, domain: str) -> str:
    return f"{selector}._domainkey.{domain}"


def zone_line(name: str, value: str) -> str:
    """The record as a zone file line: one TXT value as strings of at most 255 bytes each
    (RFC 1035 §3.3.14; RFC 6376 §3.6.2.2 joins them back)."""
    strings = " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))
    return f"{name} IN TXT {strings}"
