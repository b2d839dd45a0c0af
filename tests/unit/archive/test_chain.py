"""The chain's definition is fixed: a record's hashes, and the checker's verdicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from relay.archive import chain, redaction
from relay.archive.chain import GENESIS, Checker, Head, Record

WHEN = datetime(2026, 12, 1, 10, 0, 0, 5, tzinfo=UTC)


def test_the_header_and_link_are_what_the_readme_says() -> None:
    """A known answer: changing the encoding would orphan every stored chain."""
    content = chain.content_hash(b"hello")
    assert content == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert chain.header(1, "received", "abc", WHEN, content) == (
        b'[1,1,"received","abc","2026-12-01T10:00:00.000005Z","' + content.encode() + b'"]')
    assert chain.link(GENESIS, 1, "received", "abc", WHEN, content) == (
        "8b3970605b33880af21b5521d0165e2604132afc560b0392b26a6250788a812c")


def test_a_time_is_spelled_in_utc_whatever_its_zone() -> None:
    paris = WHEN.astimezone(timezone(timedelta(hours=1)))
    assert chain.stamp(paris) == chain.stamp(WHEN) == "2026-12-01T10:00:00.000005Z"


def _chain(count: int) -> list[Record]:
    records, prev = [], GENESIS
    for seq in range(1, count + 1):
        data = f"message {seq}".encode()
        content = chain.content_hash(data)
        linked = chain.link(prev, seq, "received", f"m{seq}", WHEN, content)
        records.append(Record(seq, f"m{seq}", "received", WHEN, data, content, prev, linked))
        prev = linked
    return records


def _check(records: list[Record], head: Head) -> chain.Problem | None:
    checker = Checker(head)
    for record in records:
        checker.feed(record)
    return checker.finish()


def test_a_whole_chain_passes_and_a_cut_one_fails_at_its_head() -> None:
    records = _chain(4)
    head = Head(4, records[-1].chain_hash)
    assert _check(records, head) is None
    problem = _check(records[:3], head)
    assert problem is not None
    assert (problem.fault, problem.name) == ("removed", "#4")


def test_a_redacted_record_keeps_its_place_when_a_later_act_names_it() -> None:
    records = _chain(3)
    records[1] = Record(**{**records[1].__dict__, "data": b"redacted", "redacted": True})
    act = redaction.act("m2", [2], "asked", WHEN)
    content = chain.content_hash(act)
    linked = chain.link(records[-1].chain_hash, 4, "redaction", "m2", WHEN, content)
    named = [*records, Record(4, "m2", "redaction", WHEN, act, content,
                              records[-1].chain_hash, linked)]
    assert _check(named, Head(4, linked)) is None
    problem = _check(records, Head(3, records[-1].chain_hash))
    assert problem is not None
    assert (problem.fault, problem.name, problem.seq) == ("changed", "m2", 2)


def test_a_chain_that_starts_after_a_purge_follows_its_base() -> None:
    records = _chain(5)
    head = Head(5, records[-1].chain_hash, base_seq=2, base_hash=records[1].chain_hash)
    assert _check(records[2:], head) is None
    problem = _check(records[3:], head)
    assert problem is not None
    assert (problem.fault, problem.name) == ("removed", "#3")
