"""SPF (RFC 7208) with pyspf, its DNS on the async resolver, off the event loop.

pyspf evaluates a record step by step, each step needing the last one's answer, and
asks DNS through one module-level function, `spf.DNSLookup`, synchronously. So the
evaluation runs in a worker thread, and that function is replaced (once, when a
checker is made) by one that sends each lookup to relay.auth.resolver on the event
loop (asyncio.run_coroutine_threadsafe) and waits for it in the thread: the loop
stays free, and every query goes through dnspython's async resolver with the
configured nameservers. Which resolver a thread's lookups go to is a context
variable set for the evaluation, so checkers with different resolvers can run at
once. pyspf keeps RFC 7208's limits: 10 DNS-querying mechanisms and 2 void lookups
(more is permerror), and `querytime` bounds the whole evaluation.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, get_args

import spf

from relay.auth.resolver import DnsTemporary, Resolver

SpfOutcome = Literal["pass", "fail", "softfail", "neutral", "none", "permerror", "temperror"]
# RFC 7208 §4.6.4: an evaluation may be given at least 20 seconds in all.
QUERY_SECONDS = 20
# Evaluations at once, in the whole process; each mostly waits for DNS. More wait
# for a thread. One pool for every checker: a reload builds a new checker, and a
# pool of its own would leave the old one's threads idle for good.
THREADS = 16
_THREADS = ThreadPoolExecutor(THREADS, thread_name_prefix="spf")

_OUTCOMES: dict[str, SpfOutcome] = {name: name for name in get_args(SpfOutcome)}

Lookup = Callable[[str, str], list[tuple[tuple[str, str], Any]]]
_LOOKUP: contextvars.ContextVar[Lookup] = contextvars.ContextVar("spf_lookup")


@dataclass(frozen=True)
class SpfResult:
    outcome: SpfOutcome
    domain: str  # the MAIL FROM domain checked
    reason: str = ""


def _from_context(name: str, qtype: str, strict: object = True,
                  timeout: object = None) -> list[tuple[tuple[str, str], Any]]:
    """pyspf's `DNSLookup`: the lookup function this evaluation was given."""
    return _LOOKUP.get()(name, qtype)


def _as_pyspf(name: str, qtype: str, records: list[Any]) -> list[tuple[tuple[str, str], Any]]:
    """Answers in the shape pyspf's own dnspython lookup returns them."""
    key = (name, qtype)
    if qtype in ("A", "AAAA"):
        return [(key, r.address) for r in records]
    if qtype == "MX":
        return [(key, (r.preference, r.exchange)) for r in records]
    if qtype == "PTR":
        return [(key, r.target.to_text(True)) for r in records]
    if qtype in ("TXT", "SPF"):
        return [(key, r.strings) for r in records]
    return []


def _bridge(resolver: Resolver, loop: asyncio.AbstractEventLoop) -> Lookup:
    """A blocking lookup for the worker thread, answered by `resolver` on `loop`."""

    def lookup(name: str, qtype: str) -> list[tuple[tuple[str, str], Any]]:
        future = asyncio.run_coroutine_threadsafe(resolver.lookup(name, qtype), loop)
        try:
            # The resolver's own lifetime ends it first; this only frees the thread if
            # the loop stops meanwhile.
            records = future.result(timeout=resolver.timeout + 5)
        except DnsTemporary as exc:
            raise spf.TempError(str(exc)) from None
        except TimeoutError:
            future.cancel()
            raise spf.TempError(f"DNS lookup of {qtype} {name} did not finish") from None
        return _as_pyspf(name, qtype, records)

    return lookup


def _evaluate(lookup: Lookup, ip: str, sender: str, helo: str) -> tuple[str, str]:
    token = _LOOKUP.set(lookup)
    try:
        query = spf.query(i=ip, s=sender, h=helo, querytime=QUERY_SECONDS)
        outcome, _code, explanation = query.check()
    finally:
        _LOOKUP.reset(token)
    return str(outcome), str(explanation)


class SpfChecker:
    """Evaluates the MAIL FROM identity of a message, each in a thread of the SPF pool."""

    def __init__(self, resolver: Resolver) -> None:
        spf.DNSLookup = _from_context
        self._resolver = resolver

    async def check(self, ip: str, sender: str, helo: str) -> SpfResult:
        """SPF for `sender` (an address) sending from `ip`, having said HELO `helo`."""
        domain = sender.rpartition("@")[2].lower()
        loop = asyncio.get_running_loop()
        outcome, explanation = await loop.run_in_executor(
            _THREADS, _evaluate, _bridge(self._resolver, loop), ip, sender, helo)
        known = _OUTCOMES.get(outcome)
        if known is None:
            return SpfResult("permerror", domain, f"unexpected SPF result {outcome!r}")
        return SpfResult(known, domain, explanation)
