"""DNS for the authentication checks: dnspython's async resolver, every lookup's outcome told.

Nothing here blocks the event loop. A name that does not exist and a name with no
record of the type are answers (an empty list); a timeout, SERVFAIL or any other
failure to get an answer is `DnsTemporary`, which the checks turn into RFC 7208 /
RFC 6376 temperror. Each lookup's outcome goes to `on_lookup` (one of OUTCOMES),
for the metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import dns.asyncresolver
import dns.exception
import dns.name
import dns.nameserver
import dns.resolver

from relay.config.settings import DnsSettings

Outcome = Literal["ok", "nxdomain", "nodata", "timeout", "servfail", "error"]
OUTCOMES: tuple[Outcome, ...] = ("ok", "nxdomain", "nodata", "timeout", "servfail", "error")
LookupHook = Callable[[Outcome], None]
CACHE_SIZE = 10_000  # answers kept, each for its TTL: a seller's key and SPF record repeat


class DnsTemporary(Exception):
    """No answer this time (timeout, SERVFAIL, a broken response): asking later may work."""


class NoSystemResolver(Exception):
    """`[dns] nameservers` is empty and the system names no resolver (/etc/resolv.conf)."""


def count_nothing(outcome: Outcome) -> None:
    """The default hook: nobody counts."""


def build(settings: DnsSettings) -> dns.asyncresolver.Resolver:
    """A resolver asking `settings.nameservers` (default: the system's), each lookup
    bounded by `settings.timeout`."""
    if settings.nameservers:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver(host, port)
                                for host, port in settings.addresses]
    else:
        try:
            resolver = dns.asyncresolver.Resolver()
        except dns.resolver.NoResolverConfiguration as exc:
            raise NoSystemResolver(str(exc)) from None
    resolver.lifetime = float(settings.timeout)
    resolver.timeout = min(2.0, float(settings.timeout))  # one try; the lifetime bounds retries
    resolver.cache = dns.resolver.LRUCache(CACHE_SIZE)
    return resolver


class Resolver:
    """Lookups by name and type, on the event loop; outcomes reported to `on_lookup`."""

    def __init__(self, resolver: dns.asyncresolver.Resolver,
                 on_lookup: LookupHook = count_nothing) -> None:
        self._resolver = resolver
        self._on_lookup = on_lookup
        self.timeout = float(resolver.lifetime)

    async def lookup(self, name: str, rdtype: str) -> list[Any]:
        """The records of type `rdtype` at `name`; [] when there are none.

        A name that is not a DNS name (an empty label, one longer than 63 bytes) has
        no records and is not asked for: it comes from the message, and a sender must
        not be able to turn it into a temporary failure.
        """
        try:
            qname = dns.name.from_text(name)
        except (dns.exception.DNSException, UnicodeError):
            return []
        try:
            answer = await self._resolver.resolve(qname, rdtype, search=False)
        except dns.resolver.NXDOMAIN:
            self._on_lookup("nxdomain")
            return []
        except dns.resolver.NoAnswer:
            self._on_lookup("nodata")
            return []
        except dns.exception.Timeout:
            self._on_lookup("timeout")
            raise DnsTemporary(f"DNS timeout looking up {rdtype} {name}") from None
        except dns.resolver.NoNameservers:
            self._on_lookup("servfail")
            raise DnsTemporary(f"DNS server failure looking up {rdtype} {name}") from None
        except dns.exception.DNSException as exc:
            self._on_lookup("error")
            raise DnsTemporary(f"DNS error looking up {rdtype} {name}: {exc}") from None
        self._on_lookup("ok")
        return list(answer)
