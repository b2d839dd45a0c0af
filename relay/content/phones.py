"""Find phone numbers in text, with a bounded amount of work per message.

A cheap regular expression finds what looks like a number (7 to 17 digits with
the separators people write); `phonenumbers` then says whether it is a valid
number: international ones (`+44 …`, `0044 …`) for any country, national ones
for the countries in NATIONAL_REGIONS. A contiguous run of digits counts only
with a leading `+`, `00` or `0`: order and tracking numbers are written that way.

Bound: a message's first MAX_CANDIDATES number-like strings are checked; any
further one is taken for a phone number (so a long list of decoys cannot hide
one at the end), which only a message full of long numbers ever meets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

MAX_CANDIDATES = 200
NATIONAL_REGIONS = ("US", "GB", "FR", "ES", "NL", "AU")
_CANDIDATE = re.compile(
    r"(?<![\w+\-./])(?:\+|00)?\(?\d[\d \t\u00a0().\-/]{5,22}\d(?![\w\-/]|\.\d)"
)
_DATE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}")


@dataclass
class Budget:
    """How many more candidates this message may have checked."""

    left: int = MAX_CANDIDATES


def phone_spans(text: str, budget: Budget) -> list[tuple[int, int]]:
    """The spans of `text` that are phone numbers."""
    spans = []
    for match in _CANDIDATE.finditer(text):
        candidate = match[0]
        digits = sum(c.isdigit() for c in candidate)
        if not 7 <= digits <= 17 or _DATE.fullmatch(candidate):
            continue
        if candidate.isdigit() and not candidate.startswith("0"):
            continue
        budget.left -= 1
        if budget.left < 0 or is_phone_number(candidate):
            spans.append(match.span())
    return spans


def is_phone_number(candidate: str) -> bool:
    """Whether phonenumbers takes `candidate` for a valid number."""
    if candidate.startswith("00"):
        candidate = "+" + candidate[2:]
    regions: tuple[str | None, ...] = (None,) if candidate.startswith("+") else NATIONAL_REGIONS
    for region in regions:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return True
    return False
