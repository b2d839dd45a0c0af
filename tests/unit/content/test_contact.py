"""Contact details: other addresses, mailto: links and phone numbers refused or cut."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.content.contact import REMOVED, ContactDetails
from relay.content.html import Html
from relay.content.phones import MAX_CANDIDATES, Budget, phone_spans
from relay.content.text import text_parts
from relay.replies import Refused
from tests.unit.content.messages import BUYER, BUYER_ALIAS, SELLER, SELLER_ALIAS, SELLER_OTHER
from tests.unit.content.test_html import POLICY
from tests.unit.content.test_links import transaction, wide
from tests.unit.content.test_scrub import obfuscated, reveal


async def run(body: str, action: str = "strip", subtype: str = "plain") -> str:
    tx = transaction(body, subtype)
    await Html(POLICY)(tx)
    await ContactDetails(action)(tx)  # type: ignore[arg-type]
    (part,) = text_parts(tx.parsed)
    return part.text.strip()


class TestAddresses:
    @pytest.mark.parametrize("body", [
        "Write to me at jo.private@gmail.com", "jo [at] gmail [dot] com", "jo(at)gmail(dot)com",
        "jo at gmail dot com", "jo&#64;gmail&#46;com", wide("jo@gmail.com"), "jo @ gmail . com",
    ])
    async def test_other_addresses_are_refused(self, body: str) -> None:
        with pytest.raises(Refused) as refused:
            await run(body, "reject")
        assert refused.value.reply.code == 550
        assert "email address" in refused.value.reply.text

    @pytest.mark.parametrize("address", [BUYER_ALIAS, SELLER_ALIAS, SELLER, SELLER_OTHER, BUYER,
                                         "Seller+Shop@Shop.Example"])
    async def test_the_pairs_own_addresses_are_not_contact_details(self, address: str) -> None:
        """Aliases stay; the sender's own addresses become the alias in the rewrite."""
        body = f"Reply to {address} please"
        assert await run(body, "reject") == body

    async def test_strip_cuts_the_address(self) -> None:
        assert await run("Mail jo [at] gmail [dot] com, thanks") == f"Mail {REMOVED}, thanks"

    async def test_mailto_links(self) -> None:
        with pytest.raises(Refused) as refused:
            await run('<a href="mailto:jo%40gmail.com">me</a>', "reject", "html")
        assert "mailto" in refused.value.reply.text
        out = await run(f'<a href="mailto:{SELLER_ALIAS}">me</a>', "reject", "html")
        assert f'href="mailto:{SELLER_ALIAS}"' in out
        assert await run('<a href="mailto:jo@gmail.com">me</a>', "strip", "html") == "<a>me</a>"


class TestPhones:
    @pytest.mark.parametrize("body", [
        "Call +44 20 7946 0958", "ring 0044 20 7946 0958.", "(212) 555-0123", "06 12 34 56 78",
        "+1 (415) 555-2671", "07911 123456", "+33612345678", wide("+44 20 7946 0958"),
        "+44&#32;20&#32;7946&#32;0958",
    ])
    async def test_phone_numbers_are_refused(self, body: str) -> None:
        with pytest.raises(Refused) as refused:
            await run(body, "reject")
        assert "phone number" in refused.value.reply.text

    @pytest.mark.parametrize("body", [
        "Order 123-4567890-1234567 ships 2026-12-03", "Total 1.299,00 EUR", "Open 10:00-12:00",
        "Order 4567890123", "Tracking 1Z999AA10123456784", "on 12.12.2026", "SKU 555-1234",
    ])
    async def test_order_numbers_dates_and_prices_are_not_phones(self, body: str) -> None:
        assert await run(body, "reject") == body

    async def test_strip_cuts_the_number(self) -> None:
        assert await run("Call +44 20 7946 0958 now") == f"Call {REMOVED} now"

    def test_the_scan_is_bounded(self) -> None:
        """Past MAX_CANDIDATES number-like strings, the rest count as phone numbers."""
        decoys = "; ".join(f"0{n:09d}1" for n in range(MAX_CANDIDATES))
        budget = Budget()
        spans = phone_spans(decoys + "; 0000000000099", budget)
        assert budget.left < 0
        assert spans[-1] == (len(decoys) + 2, len(decoys) + 15)


class TestProperties:
    @settings(max_examples=300, deadline=None)
    @given(data=st.data(), subtype=st.sampled_from(("plain", "html")),
           before=st.sampled_from(("", "Write to ", "<b>x</b> ")),
           after=st.sampled_from(("", " today.", ", thanks")))
    async def test_no_foreign_address_survives_strip(self, data: st.DataObject, subtype: str,
                                                     before: str, after: str) -> None:
        """However the address is disguised, "strip" leaves nothing a reader could use."""
        text = before + data.draw(obfuscated("jo.private@gmail.com")) + after
        out = await run(text, "strip", subtype)
        assert "gmail" not in reveal(out), out
