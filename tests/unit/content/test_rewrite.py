"""rewrite(): the delivered form of a message (SPEC §2.4)."""

from __future__ import annotations

import base64
import copy

import pytest

from relay.content.rewrite import rewrite
from relay.message import parse as relay_parse
from relay.replies import S554_BAD_BOUNDARY, Refused
from tests.unit.content.messages import (
    BUYER,
    BUYER_ALIAS,
    NEW_ID,
    SELLER,
    SELLER_ALIAS,
    SELLER_OTHER,
    assert_private,
    buyer_to_seller,
    children,
    crlf,
    encode_body,
    multipart,
    parse,
    part,
    run,
    seller_to_buyer,
    text_of,
)

PLAIN = f"""\
From: "{SELLER}" <{SELLER}>
To: <{BUYER_ALIAS}>
Subject: Your order
Date: Mon, 01 Jan 2024 10:00:00 +0000
Message-ID: <orig1@shop.example>

Thanks for your order.
"""

DROPPED = [
    f"Received: from mx.shop.example by mx.relay.example for <{SELLER}>",
    f"Return-Path: <{SELLER}>",
    f"Sender: {SELLER}",
    f"Reply-To: {SELLER}",
    f"Cc: {SELLER}",
    f"Bcc: {SELLER}",
    f"Delivered-To: {SELLER}",
    "X-Originating-IP: [192.0.2.7]",
    f"X-Contact-Reason: {SELLER}",
    f"Disposition-Notification-To: {SELLER}",
    "Authentication-Results: mx.relay.example; dkim=pass header.d=shop.example",
    "DKIM-Signature: v=1; a=rsa-sha256; d=shop.example; s=s1; b=AAAA",
    f"List-Unsubscribe: <mailto:{SELLER}>",
    f"Resent-From: {SELLER}",
]


def _one_part(headers: str, body: str, charset: str = "utf-8") -> bytes:
    return crlf(f"From: {SELLER}\nTo: {BUYER_ALIAS}\nSubject: s\nMIME-Version: 1.0\n"
                f"{headers}\n\n{body}", charset)


class TestHeaders:
    def test_only_allowlisted_headers_survive(self) -> None:
        """Trace, reply and list headers are dropped; Subject, Date and Content-* pass."""
        raw = crlf("\n".join(DROPPED) + "\nContent-Language: en\n" + PLAIN)
        delivered = parse(run(raw))
        assert sorted(k.lower() for k in delivered) == sorted([
            "content-language", "content-transfer-encoding", "content-type", "date", "from",
            "message-id", "mime-version", "subject", "to",
        ])
        assert delivered["Subject"] == "Your order"
        assert delivered["Date"] == "Mon, 01 Jan 2024 10:00:00 +0000"

    def test_date_and_mime_version_are_added(self) -> None:
        """A message without Date gets one, and every message gets MIME-Version 1.0."""
        delivered = parse(run(crlf(f"From: {SELLER}\nSubject: hi\n\nhello\n")))
        assert delivered["Date"].datetime is not None
        assert delivered["MIME-Version"] == "1.0"

    def test_from_is_the_store_name_at_the_alias(self) -> None:
        """The display name the sender's client wrote is replaced by the store's."""
        address = parse(run(crlf(PLAIN)))["From"].addresses
        assert len(address) == 1
        assert (address[0].display_name, address[0].addr_spec) == ("Acme Shop", SELLER_ALIAS)

    @pytest.mark.parametrize("name", ['Müller & Söhne, "GmbH"', "O'Brien <Shop>", ""])
    def test_from_name_is_encoded_and_quoted(self, name: str) -> None:
        """Non-ASCII and special characters in the store's name survive the round trip."""
        out = run(crlf(PLAIN), seller_to_buyer(name))
        address = parse(out)["From"].addresses[0]
        assert (address.display_name, address.addr_spec) == (name, SELLER_ALIAS)
        assert out.isascii()

    def test_from_name_naming_a_real_address_is_scrubbed(self) -> None:
        """Even the store's display name may not carry the sender's real address."""
        address = parse(run(crlf(PLAIN), seller_to_buyer(f"Shop {SELLER}")))["From"].addresses[0]
        assert address.display_name == f"Shop {SELLER_ALIAS}"

    def test_to_is_the_recipient_alone(self) -> None:
        """To names the recipient's real address, without a display name."""
        raw = crlf(f"To: Someone <{BUYER_ALIAS}>, other@else.example\n" + PLAIN)
        assert parse(run(raw))["To"] == BUYER

    def test_message_id_is_new(self) -> None:
        """The sender's Message-ID is replaced by the relay's."""
        delivered = parse(run(crlf(PLAIN)))
        assert delivered.get_all("Message-ID") == [NEW_ID]

    def test_thread_headers_are_the_translated_ids(self) -> None:
        """In-Reply-To and References carry the IDs given, and nothing of the original."""
        raw = crlf("In-Reply-To: <old@shop.example>\nReferences: <old@shop.example>\n" + PLAIN)
        out = run(raw, in_reply_to=["<p1@mail.example>"],
                  references=["<p0@mail.example>", "<p1@mail.example>"])
        delivered = parse(out)
        assert delivered["In-Reply-To"] == "<p1@mail.example>"
        assert delivered["References"] == "<p0@mail.example> <p1@mail.example>"

    def test_empty_thread_lists_omit_the_headers(self) -> None:
        """No translated IDs means no In-Reply-To or References at all."""
        raw = crlf("In-Reply-To: <old@shop.example>\nReferences: <old@shop.example>\n" + PLAIN)
        delivered = parse(run(raw))
        assert "In-Reply-To" not in delivered
        assert "References" not in delivered

    def test_long_ids_are_folded_not_encoded(self) -> None:
        """An ID longer than a line stays a plain msg-id, not encoded words."""
        long_id = "<" + "a" * 120 + "@mail.example>"
        out = run(crlf(PLAIN), in_reply_to=[long_id], references=["<p0@x.example>", long_id])
        assert b"=?" not in out
        delivered = parse(out)
        assert delivered["In-Reply-To"] == long_id
        assert delivered["References"] == f"<p0@x.example> {long_id}"

    def test_invalid_ids_are_left_out(self) -> None:
        """An ID without angle brackets or with spaces cannot be folded safely."""
        delivered = parse(run(crlf(PLAIN), references=["bare@x.example", "<a b@x>", "<ok@x>"]))
        assert delivered["References"] == "<ok@x>"

    @pytest.mark.parametrize("subject", [
        f"Re: order from {SELLER.upper()}",
        "Re: =?utf-8?b?" + base64.b64encode(f"Grüße von {SELLER}".encode()).decode() + "?=",
        "=?iso-8859-1?q?Gr=FC=DFe_von_seller=40shop=2Eexample?=",
        "=?utf-8?q?seller?==?utf-8?q?=40shop.example?=",
    ])
    def test_subject_is_decoded_scrubbed_and_reencoded(self, subject: str) -> None:
        """Encoded words are decoded before matching, and non-ASCII text survives."""
        out = run(crlf(PLAIN.replace("Subject: Your order", f"Subject: {subject}")))
        assert_private(out, seller_to_buyer())
        assert SELLER_ALIAS in str(parse(out)["Subject"]).lower()

    def test_unchanged_subject_reads_the_same(self) -> None:
        """A Subject without an address is written again with the same text."""
        subject = "=?utf-8?q?Gr=C3=BC=C3=9Fe?="
        out = run(crlf(PLAIN.replace("Subject: Your order", f"Subject: {subject}")))
        assert f"Subject: {subject}\r\n".encode() in out

    def test_subpart_headers_keep_only_content(self) -> None:
        """Headers of a body part other than Content-* are dropped."""
        ctype, body = multipart("mixed", "b1", [part(
            ["Content-Type: text/plain", f"X-Mailer-Contact: {SELLER}", "Content-ID: <c1@x>"],
            b"hello")])
        out = run(crlf(f"From: {SELLER}\nMIME-Version: 1.0\n{ctype}\n\n") + body)
        inner = children(parse(out))[0]
        assert sorted(inner.keys()) == ["Content-ID", "Content-Transfer-Encoding",
                                        "Content-Type"]

    def test_content_description_is_scrubbed(self) -> None:
        """Content-Description is Content-*, so it passes, but scrubbed."""
        out = run(_one_part(f"Content-Description: from {SELLER}", "hi"))
        assert parse(out)["Content-Description"] == f"from {SELLER_ALIAS}"

    def test_buyer_to_seller(self) -> None:
        """The buyer's address vanishes, and To is the seller's real address."""
        raw = crlf(f"From: Bob <{BUYER}>\nCc: {BUYER}\nSubject: for {BUYER}\n\n"
                   f"On Monday, {BUYER} wrote:\n> where is it\n")
        out = run(raw, buyer_to_seller())
        assert_private(out, buyer_to_seller())
        assert parse(out)["From"].addresses[0].display_name == "Bob Buyer"


class TestBodies:
    def test_quoted_reply_is_scrubbed(self) -> None:
        """A quoted reply line is just text: every real address in it is replaced."""
        body = (f'On Mon, Acme <{SELLER}> wrote:\n'
                f'> "{SELLER_OTHER}" <{SELLER}> and Seller@Shop.EXAMPLE\n')
        out = run(crlf(PLAIN + "\n" + body))
        assert_private(out, seller_to_buyer())
        text = text_of(parse(out))
        assert f"On Mon, Acme <{SELLER_ALIAS}> wrote:" in text
        assert f'"{SELLER_ALIAS}" <{SELLER_ALIAS}> and {SELLER_ALIAS}' in text

    def test_other_addresses_are_kept(self) -> None:
        """Addresses of neither side, and the recipient's own, are left alone."""
        out = run(crlf(PLAIN + f"\nask help@market.example or {BUYER}\n"))
        assert f"ask help@market.example or {BUYER}" in text_of(parse(out))

    def test_subaddress_is_scrubbed(self) -> None:
        """seller+orders@shop.example reaches the seller too."""
        out = run(crlf(PLAIN + "\nwrite to seller+orders@shop.example\n"))
        assert text_of(parse(out)).strip().endswith(f"write to {SELLER_ALIAS}")

    @pytest.mark.parametrize(("charset", "encoding"), [
        ("utf-8", "base64"), ("iso-8859-1", "quoted-printable"), ("windows-1252", "8bit"),
        ("utf-16", "base64"), ("iso-8859-15", "base64"), ("utf-8", "quoted-printable"),
    ])
    def test_encoded_text_is_scrubbed(self, charset: str, encoding: str) -> None:
        """Text is decoded from its transfer encoding and charset, then scrubbed."""
        text = f"Grüße,\n\nOn Mon, {SELLER} wrote:\n> contact {SELLER_OTHER}\n"
        raw = part([f"From: {SELLER}", "MIME-Version: 1.0",
                    f"Content-Type: text/plain; charset={charset}",
                    f"Content-Transfer-Encoding: {encoding}"],
                   encode_body(text, charset, encoding))
        out = run(raw)
        assert_private(out, seller_to_buyer())
        delivered = parse(out)
        assert delivered.get_content_charset() == "utf-8"
        assert str(delivered["Content-Transfer-Encoding"]) in ("7bit", "quoted-printable", "base64")
        assert text_of(delivered) == text.replace(SELLER, SELLER_ALIAS) \
            .replace(SELLER_OTHER, SELLER_ALIAS)

    def test_unchanged_text_is_reencoded_too(self) -> None:
        """A part without an address is still written by relay: UTF-8, relay's encoding."""
        body = encode_body("Grüße, no addresses here\n", "iso-8859-1", "quoted-printable")
        raw = part([f"From: {SELLER}", "MIME-Version: 1.0",
                    "Content-Type: text/plain; charset=iso-8859-1",
                    "Content-Transfer-Encoding: quoted-printable"], body)
        out = run(raw)
        assert body not in out
        delivered = parse(out)
        assert delivered.get_content_charset() == "utf-8"
        assert delivered["Content-Transfer-Encoding"] == "quoted-printable"
        assert text_of(delivered) == "Grüße, no addresses here\n"

    def test_text_attachment_is_scrubbed(self) -> None:
        """A text part that is an attachment is still text a client shows."""
        out = run(_one_part('Content-Type: text/csv\nContent-Disposition: attachment; '
                            'filename="orders.csv"', f"id,contact\n1,{SELLER}\n"))
        assert_private(out, seller_to_buyer())
        assert parse(out).get_filename() == "orders.csv"

    @pytest.mark.parametrize("disguise", [
        "seller&#64;shop.example", "seller&#x40;shop.example", "seller&#X0040;shop.example",
        "seller&commat;shop.example", "seller&#64shop.example", "SELLER&#64;SHOP&#46;EXAMPLE",
        "&#115;&#101;&#108;&#108;&#101;&#114;&#64;shop.example", "sel<b></b>ler@shop.example",
        "seller\u200b@shop.example", "seller&shy;@shop.example", "seller\uff20shop.example",
    ])
    def test_html_disguises_are_scrubbed(self, disguise: str) -> None:
        """HTML character references and markup inside the address do not hide it."""
        body = f'<p>Write to <a href="mailto:seller%40shop.example">{disguise}</a></p>\n'
        out = run(_one_part("Content-Type: text/html; charset=utf-8", body))
        assert_private(out, seller_to_buyer())
        assert text_of(parse(out)) == (f'<p>Write to <a href="mailto:{SELLER_ALIAS}">'
                                       f"{SELLER_ALIAS}</a></p>\n")

    def test_alternative_parts_are_both_scrubbed(self) -> None:
        """multipart/alternative keeps its shape, with both versions scrubbed."""
        ctype, body = multipart("alternative", "alt", [
            part(["Content-Type: text/plain; charset=utf-8"], f"mail {SELLER}".encode()),
            part(["Content-Type: text/html; charset=utf-8"], f"<b>{SELLER}</b>".encode()),
        ])
        out = run(crlf(f"From: {SELLER}\nMIME-Version: 1.0\n{ctype}\n\n") + body)
        assert_private(out, seller_to_buyer())
        delivered = parse(out)
        assert delivered.get_content_type() == "multipart/alternative"
        plain, rich = children(delivered)
        assert (text_of(plain).strip(), text_of(rich).strip()) == (
            f"mail {SELLER_ALIAS}", f"<b>{SELLER_ALIAS}</b>")

    def test_forwarded_message_is_scrubbed_recursively(self) -> None:
        """An attached message loses trace headers; the rest and its body are scrubbed."""
        inner = crlf(f"Received: from mx.shop.example\nFrom: Acme <{SELLER}>\nTo: {BUYER}\n"
                     f"Reply-To: {SELLER_OTHER}\nSubject: about {SELLER}\n\nbody {SELLER}\n")
        ctype, body = multipart("mixed", "fw", [
            part(["Content-Type: text/plain"], b"see below"),
            part(["Content-Type: message/rfc822"], inner),
        ])
        out = run(crlf(f"From: {SELLER}\nMIME-Version: 1.0\n{ctype}\n\n") + body)
        assert_private(out, seller_to_buyer())
        forwarded = children(children(parse(out))[1])[0]
        assert {"From", "Subject", "To"} <= set(forwarded.keys())
        assert "Received" not in forwarded
        assert "Reply-To" not in forwarded
        assert forwarded["From"] == f"Acme <{SELLER_ALIAS}>"
        assert text_of(forwarded).strip() == f"body {SELLER_ALIAS}"

    def test_non_text_parts_keep_their_bytes(self) -> None:
        """An image or PDF is decoded and encoded again: the same bytes, in fresh base64."""
        pdf = b"%PDF-1.4\x00\xff binary " + SELLER.encode() + b"\x00" * 300
        encoded = base64.encodebytes(pdf).replace(b"\n", b"\r\n")
        ctype, body = multipart("mixed", "att", [
            part(["Content-Type: text/plain"], f"see {SELLER}".encode()),
            part(["Content-Type: application/pdf", "Content-Transfer-Encoding: base64"], encoded),
        ])
        out = run(crlf(f"From: {SELLER}\nMIME-Version: 1.0\n{ctype}\n\n") + body)
        attachment = children(parse(out))[1]
        assert attachment.get_payload(decode=True) == pdf
        assert attachment["Content-Transfer-Encoding"] == "base64"

    def test_preamble_and_epilogue_are_scrubbed(self) -> None:
        """Text outside the parts of a multipart is shown by some clients."""
        ctype, body = multipart("mixed", "pe", [part(["Content-Type: text/plain"], b"hi")])
        raw = crlf(f"From: {SELLER}\nMIME-Version: 1.0\n{ctype}\n\nby {SELLER}\n") + body \
            + crlf(f"bye {SELLER}\n")
        assert_private(run(raw), seller_to_buyer())

    def test_input_message_is_left_alone(self) -> None:
        """rewrite works on a copy: the pipeline's parsed message keeps its headers."""
        message = parse(crlf(PLAIN + f"\n{SELLER}\n"))
        before = copy.deepcopy(message).as_bytes()
        rewrite(message, seller_to_buyer(), message_id=NEW_ID, in_reply_to=[], references=[])
        assert message.as_bytes() == before


class TestFilenames:
    @pytest.mark.parametrize("disposition", [
        f'attachment; filename="{SELLER}.pdf"',
        "attachment; filename*=utf-8''Seller%40Shop.example%C3%A9.pdf",
        "attachment; filename*0*=utf-8''seller%40sh; filename*1=op.example.pdf",
        'attachment; filename="=?utf-8?b?' + base64.b64encode(b"seller@shop.example.pdf")
        .decode() + '?="',
        "attachment; filename=seller@shop.example.pdf",
        "attachment; filename==?utf-8?q?seller=40shop.example.pdf?=",
    ])
    def test_disposition_filename_is_scrubbed(self, disposition: str) -> None:
        """Quoted, RFC 2231, continued, encoded-word and malformed file names are all read."""
        raw = _one_part(f"Content-Type: application/pdf\nContent-Disposition: {disposition}\n"
                        "Content-Transfer-Encoding: base64", "JVBERi0xLjQK\n")
        out = run(raw)
        assert_private(out, seller_to_buyer())
        assert parse(out).get_payload(decode=True) == b"%PDF-1.4\n"

    def test_content_type_name_is_scrubbed(self) -> None:
        """The name parameter of Content-Type is a file name too."""
        raw = _one_part("Content-Type: image/png; name*=utf-8''Gr%C3%BC%C3%9Fe%20seller%40shop"
                        ".example.png\nContent-Transfer-Encoding: base64", "iVBORw0KGgo=\n")
        delivered = parse(run(raw))
        assert delivered["Content-Type"].params["name"] == f"Grüße {SELLER_ALIAS}.png"

    def test_plain_filename_keeps_the_rest(self) -> None:
        """Only the address changes in the name; other parameters (size, dates) go."""
        raw = _one_part('Content-Type: application/pdf\nContent-Disposition: attachment; '
                        f'filename="Rechnung für {SELLER}.pdf"; size=9', "x")
        delivered = parse(run(raw))
        assert delivered.get_filename() == f"Rechnung für {SELLER_ALIAS}.pdf"
        assert "size" not in delivered["Content-Disposition"].params


class TestMalformed:
    @pytest.mark.parametrize("charset", ["x-no-such-charset", "rot13", "idna", "utf-8"])
    def test_undecodable_text_is_scrubbed(self, charset: str) -> None:
        """Unknown charsets and invalid bytes are decoded with replacement, then scrubbed."""
        raw = part([f"From: {SELLER}", f"Content-Type: text/plain; charset={charset}"],
                   b"bad \xff\xfe bytes " + SELLER.encode() + b"\r\n")
        out = run(raw)
        assert_private(out, seller_to_buyer())
        assert SELLER_ALIAS in text_of(parse(out))

    def test_wrong_charset_does_not_hide_an_address(self) -> None:
        """ASCII bytes declared as UTF-16 would render garbage here but the address elsewhere."""
        raw = part([f"From: {SELLER}", "Content-Type: text/plain; charset=utf-16"],
                   b"mail " + SELLER.encode() + b"\r\n")
        out = run(raw)
        assert_private(out, seller_to_buyer())
        assert text_of(parse(out)) == f"mail {SELLER_ALIAS}\n"

    def test_multipart_without_boundary_is_refused(self) -> None:
        """A multipart without a boundary splits as each reader guesses: 554 saying so."""
        raw = crlf(f"From: {SELLER}\nMIME-Version: 1.0\nContent-Type: multipart/mixed\n\n"
                   f"--x\nContent-Type: text/plain\n\n{SELLER}\n--x--\n")
        with pytest.raises(Refused) as refused:
            run(raw)
        assert refused.value.reply == S554_BAD_BOUNDARY

    def test_encoded_forwarded_message_is_rewritten(self) -> None:
        """An attached message in base64 (against RFC 2046) is decoded and rewritten."""
        inner = base64.encodebytes(crlf(f"From: {SELLER}\nSubject: {SELLER}\n\nhi {SELLER}\n"))
        ctype, body = multipart("mixed", "b64", [
            part(["Content-Type: message/rfc822", "Content-Transfer-Encoding: base64"],
                 inner.replace(b"\n", b"\r\n"))])
        out = run(crlf(f"From: {SELLER}\nMIME-Version: 1.0\n{ctype}\n\n") + body)
        assert_private(out, seller_to_buyer())
        attached = children(parse(out))[0]
        assert "Content-Transfer-Encoding" not in attached
        forwarded = children(attached)[0]
        assert forwarded["Subject"] == SELLER_ALIAS
        assert text_of(forwarded) == f"hi {SELLER_ALIAS}\n"

    def test_unencoded_binary_is_sent_in_base64(self) -> None:
        """A non-text part sent as 8bit goes out in base64, its bytes unchanged."""
        data = b"\x89data\x00\xff " + SELLER.encode()
        raw = part([f"From: {SELLER}", "Content-Type: application/octet-stream",
                    "Content-Transfer-Encoding: 8bit"], data)
        out = run(raw)
        assert SELLER.encode() not in out
        assert parse(out).get_payload(decode=True) == data


class TestOutput:
    def test_line_endings_are_crlf(self) -> None:
        """Every line ends in CRLF, even when the input used bare LF."""
        out = run((PLAIN + f"\n{SELLER}\n").encode())
        assert b"\n" not in out.replace(b"\r\n", b"")
        assert b"\r" not in out.replace(b"\r\n", b"")

    def test_long_lines_are_reencoded(self) -> None:
        """Lines over 998 octets are re-encoded, in text and non-text parts alike."""
        ctype, body = multipart("mixed", "ll", [
            part(["Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: 8bit"],
                 b"<p>" + "ä".encode() * 2000 + b"</p>"),
            part(["Content-Type: application/pdf", "Content-Transfer-Encoding: base64"],
                 base64.b64encode(b"%PDF" * 1000)),
        ])
        out = run(crlf(f"From: {SELLER}\nMIME-Version: 1.0\n{ctype}\n\n") + body)
        assert max(len(line) for line in out.split(b"\r\n")) <= 998
        html, pdf = children(parse(out))
        assert text_of(html).rstrip("\n") == "<p>" + "ä" * 2000 + "</p>"
        assert pdf.get_payload(decode=True) == b"%PDF" * 1000

    def test_recipient_address_inside_a_sender_address_is_not_refused(self) -> None:
        """A recipient whose address contains a sender's is still delivered."""
        route = seller_to_buyer()
        route = type(route)(**{**route.__dict__, "recipient": f"big{SELLER}"})
        out = run(crlf(PLAIN), route)
        assert parse(out)["To"] == f"big{SELLER}"

    def test_recipient_among_sender_addresses_is_kept(self) -> None:
        """Someone writing to themselves keeps their own address in To."""
        route = seller_to_buyer()
        route = type(route)(**{**route.__dict__, "recipient": SELLER})
        out = run(crlf(PLAIN + f"\nfrom {SELLER_OTHER}\n"), route)
        assert parse(out)["To"] == SELLER
        assert SELLER_OTHER.encode() not in out

    def test_relay_parse_gives_the_same_delivered_bytes(self) -> None:
        """relay.message.parse (fed in chunks, headers parsed once) reads as the stdlib does."""
        pdf = bytes(range(256)) * 1024
        encoded = base64.encodebytes(pdf).replace(b"\n", b"\r\n")
        ctype, body = multipart("mixed", "big", [
            part(["Content-Type: text/plain; charset=utf-8"], f"see {SELLER}".encode()),
            part(["Content-Type: application/pdf", "Content-Transfer-Encoding: base64"], encoded),
        ])
        raw = crlf(f"From: {SELLER}\nSubject: Re: {SELLER}\nDate: Mon, 01 Jan 2024 10:00:00 +0000"
                   f"\nMIME-Version: 1.0\n{ctype}\n\n") + body
        message = relay_parse(raw)
        out = rewrite(message, seller_to_buyer(), message_id=NEW_ID, in_reply_to=[], references=[])
        assert _unboundaried(out) == _unboundaried(run(raw))
        assert encoded in out
        again = rewrite(message, seller_to_buyer(), message_id=NEW_ID, in_reply_to=[],
                        references=[])
        assert _unboundaried(again) == _unboundaried(out)

    def test_buyer_alias_is_not_mistaken(self) -> None:
        """The alias written to is not a real address and may appear anywhere."""
        out = run(crlf(PLAIN + f"\nto {BUYER_ALIAS}\n"))
        assert BUYER_ALIAS in text_of(parse(out))


def _unboundaried(out: bytes) -> bytes:
    """The delivered bytes with the random boundary taken out."""
    boundary = parse(out).get_boundary()
    assert boundary
    return out.replace(boundary.encode(), b"BOUNDARY")
