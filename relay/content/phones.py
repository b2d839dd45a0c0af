"""Find phone numbers in text, with a bounded amount of work per message.

A cheap regular expression finds what looks like a number (7 to 17 digits with
the separators people write); `phonenumbers` then says whether it is a valid
number: international ones (`+44 …`, `0044 …`) for any country, national ones
for the countries in NATIONAL_REGIONS. A contiguous run of digits counts only
with a leading `+`, `00` or `0`: order and tracking numbers are written that way.

Bound: a message's first MAX_CANDIDATES distinct number-like strings are checked;
any further one is taken for a phone number (so a long list of decoys cannot hide
one at the end), which only a message full of long numbers ever meets.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

import phonenumbers

MAX_CANDIDATES = 200
NATIONAL_REGIONS = ("US", "GB", "FR", "ES", "NL", "AU")
# Starts with a character class, so the engine skips to candidates at C speed; what
# may not come before a number is checked on the few found.
_CANDIDATE = re.compile(r"[+(\d][\d \t\u00a0().\-/]{5,23}\d(?![\w\-/]|\.\d)")
_START = re.compile(r"(?:\+|00)?\(?\d")
_DATE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}")


@dataclass
class Budget:
    """How many more distinct candidates this message may have checked."""

    left: int = MAX_CANDIDATES
    seen: dict[str, bool] = field(default_factory=dict)


def phone_spans(text: str, budget: Budget) -> list[tuple[int, int]]:
    """The spans of `text` that are phone numbers."""
    if _too_few_digits(text):
        return []
    spans = []
    for match in _CANDIDATE.finditer(text):
        candidate = match[0]
        before = text[match.start() - 1] if match.start() else " "
        if before.isalnum() or before in "_+-./" or not _START.match(candidate):
            continue
        digits = sum(c.isdigit() for c in candidate)
        if not 7 <= digits <= 17 or _DATE.fullmatch(candidate):
            continue
        if candidate.isdigit() and not candidate.startswith("0"):
            continue
        if candidate not in budget.seen:
            budget.left -= 1
            budget.seen[candidate] = budget.left < 0 or is_phone_number(candidate)
        if budget.seen[candidate]:
            spans.append(match.span())
    return spans


def _too_few_digits(text: str) -> bool:
    """Whether an ASCII text has fewer digits than any number: counted at C speed, where
    the candidate scan tries its character class at every position."""
    if not text.isascii():
        return False  # \d matches other scripts' digits too: let the scan decide
    data = text.encode("ascii")
    return len(data) - len(data.translate(None, b"0123456789")) < 7


@functools.lru_cache(maxsize=4096)
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
