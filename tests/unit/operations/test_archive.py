"""`archive export` on both stores: order, scope, errors, and memory that stays flat."""

from __future__ import annotations

import asyncio
import base64
import io
import mailbox
import quopri
import tracemalloc
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from pathlib import Path
from typing import ClassVar

import pytest
from sqlalchemy import Connection, update

from relay.errors import NotFound
from relay.model import Accepted
from relay.operations import Context, directory
from relay.operations import archive as ops
from relay.operations.views import aliased
from relay.store import tables as t

T0 = datetime(2026, 11, 1, 12, 0, 0, 250000, tzinfo=UTC)
BUYER, SELLER = "bob@buyer.example", "owner@acme.example"


async def _pairs(ctx: Context) -> None:
    await directory.add_seller(ctx, "s1", name="Acme Shop", email=SELLER)
    await directory.add_seller(ctx, "s2", name="Rival", email="boss@rival.example")
    await directory.add_buyer(ctx, "b1", email=BUYER)
    await directory.add_buyer(ctx, "b2", email="ann@buyer.example")


def _mail(message_id: str, to: str, body: str) -> bytes:
    return (f"From: Someone <someone@relay.example>\r\nTo: {to}\r\nSubject: {message_id}\r\n"
            f"Message-ID: <{message_id}@relay.example>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()


async def _accepted(ctx: Context, message_id: str, *, buyer: str = "b1", seller: str = "s1",
                    from_buyer: bool = True, deliver: bool = True,
                    body: str = "Hello.", case: str | None = None) -> Accepted:
    aliases = await ctx.store.directory.aliases(buyer, seller)
    route = await ctx.store.directory.route(
        aliases.seller_alias if from_buyer else aliases.buyer_alias)
    assert route is not None
    return Accepted(
        message_id=message_id, route=route, envelope_sender=BUYER if from_buyer else SELLER,
        subject=message_id, original_message_id=None,
        relay_message_id=f"<{message_id}@relay.example>", parent_id=None,
        received=_mail(message_id, "x@relay.example", body),
        delivered=_mail(message_id, route.recipient, body),
        envelope_from="bounce@relay.example", deliver=deliver,
        case_id=None if case is None else int(case))


async def _send(ctx: Context, message_id: str, at: datetime, **kwargs: object) -> None:
    """A message accepted as the 250 boundary writes it, then dated `at`."""
    await ctx.store.messages.accept(await _accepted(ctx, message_id, **kwargs))  # type: ignore[arg-type]

    def date(connection: Connection) -> None:
        connection.execute(update(t.MESSAGES).where(t.MESSAGES.c.id == message_id)
                           .values(received_at=at))

    await ctx.store.database.run_connection(date)


async def _export(ctx: Context, tmp_path: Path, **kwargs: str) -> list[mailbox.mboxMessage]:
    out = io.BytesIO()
    await ops.export_dispute(ctx, out, **kwargs)  # type: ignore[arg-type]
    path = tmp_path / "export.mbox"
    path.write_bytes(out.getvalue())
    box = mailbox.mbox(path, create=False)
    try:
        return list(box)
    finally:
        box.close()


class TestExport:
    async def test_oldest_first_by_time_then_id_across_pages(
        self, ctx: Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        await _pairs(ctx)
        await _send(ctx, "m3", T0 + timedelta(minutes=1), from_buyer=False)
        await _send(ctx, "m1", T0)
        await _send(ctx, "m2", T0)  # same time as m1: the id decides
        await _send(ctx, "m4", T0 + timedelta(minutes=2))
        await _send(ctx, "m5", T0 + timedelta(minutes=2))
        await _send(ctx, "auto", T0 + timedelta(minutes=3), deliver=False)  # consumed
        await _send(ctx, "other", T0 + timedelta(minutes=1), buyer="b2", seller="s2")
        monkeypatch.setattr(ops, "EXPORT_PAGE", 2)  # pages break inside the ties
        found = await _export(ctx, tmp_path, buyer="b1", seller="s1")
        assert [m["Subject"] for m in found] == ["m1", "m2", "m3", "m4", "m5"]
        aliases = await ctx.store.directory.aliases("b1", "s1")
        assert found[2].get_from() == f"{aliases.seller_alias} Sun Nov  1 12:01:00 2026"
        assert [m["To"] for m in found] == [aliases.seller_alias] * 2 + [
            aliases.buyer_alias] + [aliases.seller_alias] * 2

    async def test_a_page_stays_under_its_byte_budget(
        self, ctx: Context, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        await _pairs(ctx)
        for i in range(5):
            await _send(ctx, f"m{i}", T0 + timedelta(minutes=i), body="x" * 1000)
        sizes: list[int] = []
        page = ctx.store.messages.dispute_page

        async def counted(*args: object) -> object:
            found = await page(*args)  # type: ignore[arg-type]
            sizes.append(len(found))
            return found

        monkeypatch.setattr(ctx.store.messages, "dispute_page", counted)
        monkeypatch.setattr(ops, "EXPORT_PAGE_BYTES", 2500)
        summary = await ops.export_dispute(ctx, io.BytesIO(), buyer="b1", seller="s1")
        assert summary.messages == 5
        assert sizes == [2, 2, 1, 0]

    async def test_the_case_restricts_and_counts_what_was_left_out(
        self, ctx: Context, tmp_path: Path
    ) -> None:
        await _pairs(ctx)
        await _send(ctx, "before", T0)
        await directory.add_order(ctx, "o1", buyer="b1", seller="s1")
        case = (await ctx.store.cases.open("b1", "s1", "o1", "Parcel")).id
        await _send(ctx, "in", T0 + timedelta(minutes=1), case=case)
        await _send(ctx, "in-auto", T0 + timedelta(minutes=2), deliver=False, case=case)
        await _send(ctx, "in-reply", T0 + timedelta(minutes=3), from_buyer=False, case=case)
        await _send(ctx, "outside", T0 + timedelta(minutes=4))
        found = await _export(ctx, tmp_path, buyer="b1", seller="s1", case=case)
        assert [m["Subject"] for m in found] == ["in", "in-reply"]
        summary = await ops.export_dispute(ctx, io.BytesIO(), buyer="b1", seller="s1", case=case)
        assert (summary.messages, summary.not_delivered) == (2, 1)

    async def test_unknown_parties_and_cases_are_not_found_before_anything_is_written(
        self, ctx: Context
    ) -> None:
        await _pairs(ctx)
        await _send(ctx, "m1", T0)
        await _send(ctx, "m2", T0, buyer="b2", seller="s2")
        await directory.add_order(ctx, "o2", buyer="b2", seller="s2")
        other = (await ctx.store.cases.open("b2", "s2", "o2", None)).id
        for kwargs, message in (
            ({"buyer": "b9", "seller": "s1"}, "no buyer 'b9'"),
            ({"buyer": "b1", "seller": "s9"}, "no seller 's9'"),
            ({"buyer": "b1", "seller": "s2"},
             "buyer 'b1' and seller 's2' have exchanged no mail"),
            ({"buyer": "b1", "seller": "s1", "case": "999"}, "no case '999'"),
            ({"buyer": "b1", "seller": "s1", "case": "x"}, "no case 'x'"),
            ({"buyer": "b1", "seller": "s1", "case": other},
             f"case {other} is not between buyer 'b1' and seller 's1'"),
        ):
            out = io.BytesIO()
            with pytest.raises(NotFound) as caught:
                await ops.export_dispute(ctx, out, **kwargs)  # type: ignore[arg-type]
            assert str(caught.value) == message
            assert out.getvalue() == b""


class TestStreaming:
    async def test_memory_stays_flat_whatever_the_dispute_size(self, ctx: Context) -> None:
        """2,000 messages of 8 KiB (16 MiB of mail) export within a few MiB of peak memory:
        loading the relationship at once, or paging without a byte budget, would not."""
        await _pairs(ctx)
        body = ("An order question, at some length. " * 230)[:8000]
        base = await _accepted(ctx, "m0", body=body)
        for start in range(0, 2000, 250):
            await asyncio.gather(*(ctx.store.messages.accept(Accepted(**{
                **base.__dict__, "message_id": f"m{i:05}",
                "relay_message_id": f"<m{i:05}@relay.example>"}))
                for i in range(start, start + 250)))

        class Sink(io.RawIOBase):
            written = 0

            def writable(self) -> bool:
                return True

            def write(self, data: object) -> int:
                size = len(data)  # type: ignore[arg-type]
                self.written += size
                return size

        sink = Sink()
        tracemalloc.start()
        try:
            summary = await ops.export_dispute(ctx, sink, buyer="b1", seller="s1")  # type: ignore[arg-type]
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert summary.messages == 2000
        assert sink.written > 16_000_000
        assert peak < 6 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"


class TestAliased:
    """Every real address becomes its alias, wherever a reader would see it."""

    HIDDEN: ClassVar[dict[str, str]] = {"Bob@Buyer.example": "b-alias@relay.example",
              "owner@acme.example": "s-alias@relay.example"}

    def _shown(self, source: bytes) -> tuple[bytes, list[str]]:
        message = aliased(source, self.HIDDEN)
        data = message.as_bytes()
        decoded = [str(make_header(decode_header(str(v)))) for part in message.walk()
                   for v in part.values()]
        decoded += [part.get_payload(decode=True).decode()  # type: ignore[union-attr]
                    for part in message.walk() if part.get_content_maintype() == "text"]
        return data, decoded

    def test_headers_encoded_words_and_encoded_bodies(self) -> None:
        html = quopri.encodestring("<p>Write to <b>owner@acme.example</b> ≥ now</p>".encode())
        text = base64.b64encode("Wrote BOB@buyer.example — ok".encode()).decode()
        source = (
            "From: =?utf-8?q?Acme_Sh=C3=B6p?= <s-alias@relay.example>\r\n"
            "To: bob@buyer.example\r\n"
            "Subject: =?utf-8?b?" + base64.b64encode("Grüße owner@acme.example".encode()).decode()
            + "?=\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
            "--b\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Transfer-Encoding: base64\r\n\r\n{text}\r\n"
            "--b\r\nContent-Type: text/html; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n" + html.decode() + "\r\n"
            "--b\r\nContent-Type: application/octet-stream\r\n\r\nowner@acme.example\r\n"
            "--b--\r\n").encode()
        data, decoded = self._shown(source)
        joined = "\n".join(decoded)
        for real in self.HIDDEN:
            assert real.lower() not in joined.lower()
        assert "To: b-alias@relay.example" in data.decode()
        assert "Grüße s-alias@relay.example" in joined
        assert "Wrote b-alias@relay.example — ok" in joined
        assert "<b>s-alias@relay.example</b> ≥ now" in joined
        assert "Acme Shöp" in joined
        assert b"=?utf-8?q?Acme_Sh=C3=B6p?= <s-alias@relay.example>" in data  # untouched
        # An attachment is the attachment rules' business (SPEC 2.3): it passes as it is.
        assert b"application/octet-stream\n\nowner@acme.example\n" in data

    def test_a_message_without_addresses_passes_byte_for_byte(self) -> None:
        source = _mail("m1", "s-alias@relay.example", "From here on, plain text.")
        assert aliased(source, self.HIDDEN).as_bytes() == source.replace(b"\r\n", b"\n")
