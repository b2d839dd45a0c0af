"""DKIM verification (RFC 6376) with dkimpy, its key lookups done first on the async resolver.

Each signature's key record is fetched with relay.auth.resolver; dkimpy then verifies
with a `dnsfunc` that only hands back what was fetched, so dkimpy does no I/O. Hashing
a large body is CPU work: as for signing (relay.delivery.dkim), messages up to
ON_LOOP_MAX are verified on the event loop and larger ones in a thread.

A signature dkimpy cannot process, whatever it raises (it lets a ValueError out for
an empty l=, an IndexError for an i= equal to d=), is a permerror for that signature
alone (RFC 6376 §6.1): the message's other signatures and SPF still decide.

A signature that verifies but does not vouch for the whole message is "policy" (RFC
8601 §2.7.1), not a pass: one with an l= shorter than the body signs a prefix, and
anyone may append to it (RFC 6376 §8.2) what then rides on the pass; so is an
rsa-sha1 signature, which RFC 8301 §3.1 forbids verifiers to count as valid.

dkimpy's RSA is pure Python and holds the GIL: a key a sender publishes with a
16384-bit modulus and as long an exponent costs seconds per signature, on the loop
or off it. Keys beyond MAX_KEY_BITS or MAX_EXPONENT_BITS are a permerror, unused, as is a
revoked one (an empty p=, which dkimpy would call a signature that does not match).
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import dkim
import dkim.util
import structlog
from dkim.canonicalization import CanonicalizationPolicy
from dkim.crypto import parse_public_key

from relay.auth.resolver import DnsTemporary, Resolver

DkimOutcome = Literal["pass", "fail", "policy", "permerror", "temperror"]
MAX_SIGNATURES = 5  # verified per message; more is a sender making work for us
ON_LOOP_MAX = 32 * 1024  # as relay.delivery.dkim: below it, a thread costs more than it saves
# RFC 8301 §3.2: verifiers must take 1024 to 4096 bits and may take more; a real
# key's exponent is 65537 (17 bits). Past these a verification takes from a second to many.
MAX_KEY_BITS = 8192
MAX_EXPONENT_BITS = 64
_FIELD = re.compile(rb"^DKIM-Signature[ \t]*:", re.IGNORECASE)

log = structlog.get_logger("relay.auth")


@dataclass(frozen=True)
class DkimResult:
    """One signature's result; `domain` is its d= ("" when it has none)."""

    outcome: DkimOutcome
    domain: str
    selector: str
    reason: str = ""


@dataclass(frozen=True)
class _Signature:
    index: int  # among the message's DKIM-Signature fields, as dkimpy counts them
    domain: str
    selector: str

    @property
    def key_name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"


def _signatures(message: bytes) -> tuple[list[_Signature], list[DkimResult]]:
    """The signatures worth a key lookup, and the results of those too broken for one."""
    end = message.find(b"\r\n\r\n")
    head = message[: end + 2] if end >= 0 else message
    fields = re.split(rb"\r\n(?![ \t])", head)
    values = [f.split(b":", 1)[1] for f in fields if _FIELD.match(f)]
    found: list[_Signature] = []
    broken: list[DkimResult] = []
    for index, value in enumerate(values[:MAX_SIGNATURES]):
        try:
            tags = dkim.util.parse_tag_value(value)
            domain = tags[b"d"].decode("ascii").strip().lower().rstrip(".")
            selector = tags[b"s"].decode("ascii").strip().lower()
        except (dkim.util.InvalidTagValueList, KeyError, UnicodeDecodeError):
            broken.append(DkimResult("permerror", "", "", "the signature cannot be read"))
            continue
        found.append(_Signature(index, domain, selector))
    return found, broken


async def _key(resolver: Resolver, signature: _Signature) -> bytes | None:
    """The key record's text (the first TXT record, as dkimpy takes it), or None."""
    records = await resolver.lookup(signature.key_name, "TXT")
    return b"".join(records[0].strings) if records else None


async def verify(message: bytes, resolver: Resolver) -> list[DkimResult]:
    """A result for each of the first MAX_SIGNATURES signatures; [] for an unsigned message."""
    signatures, results = _signatures(message)
    fetched = await asyncio.gather(*(_key(resolver, s) for s in signatures),
                                   return_exceptions=True)
    keys: dict[bytes, bytes] = {}
    to_verify: list[_Signature] = []
    for signature, key in zip(signatures, fetched, strict=True):
        if isinstance(key, DnsTemporary):
            results.append(DkimResult("temperror", signature.domain, signature.selector,
                                      f"the key lookup failed ({key})"))
        elif isinstance(key, BaseException):
            raise key
        elif key is None:
            results.append(DkimResult("permerror", signature.domain, signature.selector,
                                      f"no DKIM key is published at {signature.key_name}"))
        elif (unusable := _unusable(key)) is not None:
            results.append(DkimResult("permerror", signature.domain, signature.selector,
                                      unusable))
        else:
            keys[signature.key_name.encode() + b"."] = key
            to_verify.append(signature)
    if to_verify:
        if len(message) <= ON_LOOP_MAX:
            results.extend(_verify_all(message, to_verify, keys))
        else:
            results.extend(await asyncio.to_thread(_verify_all, message, to_verify, keys))
    return results


def _unusable(key: bytes) -> str | None:
    """Why a key record is not to be verified with (revoked, too large), or None (also
    when dkimpy will find it broken: it says how)."""
    try:
        tags = dkim.util.parse_tag_value(key)
        if tags.get(b"p", b"-").strip() == b"":  # RFC 6376 §3.6.1
            return "the key has been revoked (an empty p=)"
        if tags.get(b"k", b"rsa") != b"rsa":
            return None
        public = parse_public_key(base64.b64decode(tags[b"p"]))
        bits = int(public["modulus"]).bit_length()
        exponent = int(public["publicExponent"]).bit_length()
    except Exception:
        return None
    if bits > MAX_KEY_BITS or exponent > MAX_EXPONENT_BITS:
        return (f"the key is too large to verify with ({bits}-bit modulus, {exponent}-bit "
                f"exponent; at most {MAX_KEY_BITS} and {MAX_EXPONENT_BITS})")
    return None


def _verify_all(message: bytes, signatures: list[_Signature],
                keys: Mapping[bytes, bytes]) -> list[DkimResult]:
    def dnsfunc(name: bytes, timeout: float = 5) -> bytes | None:
        return keys.get(name.lower())

    return [_verify_one(message, s, dnsfunc) for s in signatures]


def _verify_one(message: bytes, signature: _Signature, dnsfunc: object) -> DkimResult:
    domain, selector = signature.domain, signature.selector
    try:
        verifier = dkim.DKIM(message)
        ok = verifier.verify(idx=signature.index, dnsfunc=dnsfunc)
        unacceptable = _unacceptable(verifier) if ok else None
    except dkim.ValidationError as exc:
        reason = str(exc)
        if reason.startswith("body hash mismatch"):
            reason = "the body was changed after it was signed"
        return DkimResult("fail", domain, selector, reason)
    except dkim.DKIMException as exc:
        return DkimResult("permerror", domain, selector, str(exc))
    except Exception as exc:  # dkimpy on a signature it did not expect: the sender's doing
        log.warning("dkim.unverifiable", domain=domain, error=type(exc).__name__)
        return DkimResult("permerror", domain, selector, "the signature cannot be verified")
    if unacceptable is not None:
        return DkimResult("policy", domain, selector, unacceptable)
    if ok:
        return DkimResult("pass", domain, selector)
    return DkimResult("fail", domain, selector, "the signature does not match the message")


def _unacceptable(verifier: dkim.DKIM) -> str | None:
    """Why a signature that verified still does not vouch for the message, or None."""
    tags = verifier.signature_fields
    if tags.get(b"a") == b"rsa-sha1":
        return "it is rsa-sha1, which RFC 8301 no longer accepts"
    if b"l" in tags:
        policy = CanonicalizationPolicy.from_c_value(tags.get(b"c", b"simple/simple"))
        body = len(policy.canonicalize_body(verifier.body))
        signed = int(tags[b"l"])
        if signed < body:
            return f"it signs only the first {signed} of the body's {body} bytes (l=)"
    return None
