"""The decision on one message, its Authentication-Results record and its refusal sentence.

A message passes when a DKIM signature whose d= aligns with every From domain
verifies, or when SPF passes for a MAIL FROM domain that aligns with them. When
nothing passed and a check that could have passed had a temporary DNS failure, the
verdict is temporary: asking again later may pass, so the sender hears 451, never
550. A pass wins over any other check's temporary failure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from relay.auth.alignment import aligned, ascii_domain
from relay.auth.dkim_verify import DkimResult
from relay.auth.spf import SpfResult

_REASON_MAX = 120
# A property value written as it is (RFC 8601 §2.2: a domain name, an RFC 2045 token);
# anything else, say a d= that no domain has, goes in quotes, cut to _REASON_MAX.
_PLAIN = re.compile(r"[A-Za-z0-9_.-]{1,253}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Verdict:
    from_domains: tuple[str, ...]  # the header From's domains (at least one)
    client_ip: str
    dkim: tuple[DkimResult, ...]
    spf: SpfResult

    def dkim_aligned(self, result: DkimResult) -> bool:
        return all(aligned(result.domain, d) for d in self.from_domains)

    @property
    def spf_aligned(self) -> bool:
        return all(aligned(self.spf.domain, d) for d in self.from_domains)

    @property
    def by_dkim(self) -> bool:
        return any(r.outcome == "pass" and self.dkim_aligned(r) for r in self.dkim)

    @property
    def by_spf(self) -> bool:
        return self.spf.outcome == "pass" and self.spf_aligned

    @property
    def passed(self) -> bool:
        return self.by_dkim or self.by_spf

    @property
    def dkim_temporary(self) -> bool:
        return any(r.outcome == "temperror" and self.dkim_aligned(r) for r in self.dkim)

    @property
    def spf_temporary(self) -> bool:
        return self.spf.outcome == "temperror" and self.spf_aligned

    @property
    def temporary(self) -> bool:
        return not self.passed and (self.dkim_temporary or self.spf_temporary)

    def results(self) -> str:
        """The Authentication-Results value after the authserv-id (RFC 8601 §2.2)."""
        items = []
        for r in self.dkim:
            note = "aligned with From" if self.dkim_aligned(r) else "not aligned with From"
            item = f"dkim={r.outcome} ({note})"
            if r.reason:
                item += f" reason={_quoted(r.reason)}"
            if r.domain:
                item += f" header.d={_pvalue(r.domain)} header.s={_pvalue(r.selector)}"
            items.append(item)
        if not self.dkim:
            items.append("dkim=none (no signature)")
        note = "aligned with From" if self.spf_aligned else "not aligned with From"
        spf = f"spf={self.spf.outcome} ({note}; client {self.client_ip})"
        if self.spf.reason and self.spf.outcome != "pass":
            spf += f" reason={_quoted(self.spf.reason)}"
        items.append(f"{spf} smtp.mailfrom={_pvalue(ascii_domain(self.spf.domain))}")
        return ";\r\n\t".join(items)

    def explanation(self) -> str:
        """Why the message was refused, in one sentence for the sender."""
        domain = " and ".join(self.from_domains)
        return (f"Your message could not be authenticated as mail from {domain}: "
                f"{self._dkim_words(domain)}, and {self._spf_words()}. Ask your mail provider "
                f"to sign your mail with DKIM for {domain}, or to send it from servers that "
                f"the SPF record of {domain} lists")

    def _dkim_words(self, domain: str) -> str:
        ours = [r for r in self.dkim if self.dkim_aligned(r)]
        if ours:
            r = ours[0]
            if r.outcome == "policy":
                return f"the DKIM signature for {r.domain} is not accepted ({_short(r.reason)})"
            return f"the DKIM signature for {r.domain} did not verify ({_short(r.reason)})"
        signers = sorted({r.domain for r in self.dkim if r.outcome == "pass"})
        if signers:
            return f"it is DKIM-signed by {', '.join(signers)}, not by {domain}"
        if self.dkim:
            return f"no DKIM signature for {domain} verified"
        return "it has no DKIM signature"

    def _spf_words(self) -> str:
        spf = self.spf
        if not self.spf_aligned:
            return (f"SPF cannot vouch for it, as the envelope sender's domain "
                    f"({spf.domain or 'none'}) is not the From domain")
        if spf.outcome == "none":
            return f"{spf.domain} publishes no SPF record"
        if spf.outcome == "permerror":
            return f"the SPF record of {spf.domain} is broken ({_short(spf.reason)})"
        return (f"SPF for {spf.domain} did not pass ({spf.outcome}) for the sending server "
                f"{self.client_ip}")

    def temporary_explanation(self) -> str:
        what = []
        if self.dkim_temporary:
            what.append("the DKIM key")
        if self.spf_temporary:
            what.append(f"the SPF record of {self.spf.domain}")
        return (f"Your message could not be authenticated just now: looking up "
                f"{' and '.join(what)} in DNS failed; your server will try again later")


def _short(reason: str) -> str:
    reason = " ".join(reason.split())
    return reason if len(reason) <= _REASON_MAX else reason[: _REASON_MAX - 3] + "..."


def _quoted(reason: str) -> str:
    """An RFC 8601 reason value: a quoted string of printable ASCII."""
    text = _CONTROL.sub("?", _short(reason)).encode("ascii", "replace").decode("ascii")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _pvalue(value: str) -> str:
    """A property's value as RFC 8601's ABNF has it: d= and s= come from the message, and
    may hold spaces, brackets or a thousand characters that would break the field."""
    return value if _PLAIN.fullmatch(value) else _quoted(value)
