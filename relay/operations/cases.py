"""Cases (SPEC §6): opened by hand, at most one not closed per relationship; mail joins them.

States move open -> resolved -> closed and resolved -> open; closed is final.
Any other move is a Conflict, as is opening a second case while one is not closed.
"""

from __future__ import annotations

from relay.errors import Invalid, NotFound
from relay.model import CASE_STATES, CaseRecord, CaseState
from relay.operations.context import Context


async def open_case(
    ctx: Context, *, buyer: str, seller: str, order: str | None = None,
    subject: str | None = None,
) -> CaseRecord:
    """Open a case of the pair, about one of their orders if given.

    Unknown buyer, seller or order: NotFound; an order of another pair: Invalid;
    a case of theirs not yet closed: Conflict.
    """
    return await ctx.store.cases.open(buyer, seller, order, _subject(subject))


async def resolve_case(ctx: Context, case: str) -> CaseRecord:
    """open -> resolved: the case still takes mail, and can be reopened."""
    return await ctx.store.cases.move(case_number(case), "resolved")


async def reopen_case(ctx: Context, case: str) -> CaseRecord:
    """resolved -> open."""
    return await ctx.store.cases.move(case_number(case), "open")


async def close_case(ctx: Context, case: str) -> CaseRecord:
    """resolved -> closed, for good: replies in its threads are refused from now on."""
    return await ctx.store.cases.move(case_number(case), "closed")


async def list_cases(
    ctx: Context, *, buyer: str | None = None, seller: str | None = None,
    state: str | None = None,
) -> list[CaseRecord]:
    """Cases newest first, with message count and last activity, filtered as asked."""
    return await ctx.store.cases.records(buyer=buyer, seller=seller,
                                         state=None if state is None else _state(state))


def case_number(case: str) -> int:
    """Case ids are the numbers `case open` prints; anything else names no case."""
    text = case.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise NotFound(f"no case {case!r}")
    return int(text)


def _state(state: str) -> CaseState:
    for known in CASE_STATES:
        if state == known:
            return known
    raise Invalid(f"{state!r} is not a case state; use one of {', '.join(CASE_STATES)}")


def _subject(subject: str | None) -> str | None:
    """A subject is one line of at most 998 characters (RFC 5322's line limit)."""
    if subject is None:
        return None
    text = " ".join(subject.split())
    if len(text) > 998:
        raise Invalid("the subject is longer than 998 characters")
    return text or None
