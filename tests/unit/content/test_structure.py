"""Hostile structure: what is refused whole, what is removed with a note, what is cleaned."""

from __future__ import annotations

import asyncio
import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.content.names import clean_filename, clean_text
from relay.content.rewrite import rewrite
from relay.content.structure import Structure, check_structure
from relay.message import Transaction
from relay.message import parse as relay_parse
from relay.replies import (
    S554_BAD_BOUNDARY,
    S554_BAD_PART_HEADERS,
    S554_MALFORMED,
    S554_TOO_DEEP,
    Refused,
    Reply,
)
from tests.unit.content.messages import (
    NEW_ID,
    SELLER,
    SELLER_ALIAS,
    assert_private,
    children,
    crlf,
    multipart,
    parse,
    part,
    run,
    seller_to_buyer,
    text_of,
)

HEAD = f"From: {SELLER}\nSubject: s\nMIME-Version: 1.0\n"


def message(ctype: str, body: bytes) -> bytes:
    return crlf(f"{HEAD}{ctype}\n\n") + body


def nested(depth: int) -> bytes:
    """A message whose text part sits `depth` multiparts down."""
    body = part(["Content-Type: text/plain"], b"deep")
    for level in range(depth):
        ctype, inner = multipart("mixed", f"L{level}x", [body])
        body = part([ctype], inner)
    return crlf(HEAD) + body


def wide(parts: int) -> bytes:
    """A multipart/mixed holding `parts - 1` text parts (the multipart is a part too)."""
    ctype, body = multipart("mixed", "wide", [
        part(["Content-Type: text/plain"], f"part {n}".encode()) for n in range(parts - 1)])
    return message(ctype, body)


def refusal(raw: bytes) -> Reply:
    with pytest.raises(Refused) as refused:
        run(raw)
    assert refused.value.reply.code == 554
    assert refused.value.reply.enhanced == "5.6.0"
    return refused.value.reply


def notes(out: bytes) -> list[str]:
    """The text of every part of the delivered message, decoded."""
    return [text_of(p) for p in parse(out).walk() if p.get_content_maintype() == "text"]


class TestRefusedWhole:
    def test_nesting_up_to_the_limit_is_delivered(self) -> None:
        """Ten multiparts deep is still read (the text part is at depth 10)."""
        assert "deep" in notes(run(nested(10)))

    def test_nesting_past_the_limit_is_refused(self) -> None:
        """One level more is a nesting bomb: refused, naming the limit."""
        assert "nested more than 10 levels" in refusal(nested(11)).text

    def test_very_deep_nesting_is_refused_not_crashed(self) -> None:
        """Thousands of levels (past Python's recursion limit) are a 554 too."""
        with pytest.raises(Refused) as refused:
            relay_parse(nested(3000))
        assert refused.value.reply == S554_TOO_DEEP

    def test_parts_up_to_the_limit_are_delivered(self) -> None:
        assert len(children(parse(run(wide(100))))) == 99

    def test_parts_past_the_limit_are_refused(self) -> None:
        assert "more than 100 parts" in refusal(wide(101)).text

    def test_forwarded_messages_count_towards_the_limits(self) -> None:
        """An attached message's parts are parts of the message: depth and count go on."""
        inner = nested(10)
        ctype, body = multipart("mixed", "fw", [part(["Content-Type: message/rfc822"], inner)])
        assert "nested" in refusal(message(ctype, body)).text

    @pytest.mark.parametrize("body", [
        # the declared boundary never appears
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--other\r\n\r\nhi\r\n--other--\r\n',
        # no boundary parameter at all
        b"Content-Type: multipart/mixed\r\n\r\n--b1\r\n\r\nhi\r\n--b1--\r\n",
        # the closing boundary is missing
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n\r\nhi\r\n',
        # no part at all
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1--\r\n',
        # a multipart in base64 (RFC 2045 §6.4 forbids it)
        b'Content-Type: multipart/mixed; boundary="b1"\r\nContent-Transfer-Encoding: base64'
        b"\r\n\r\n--b1\r\n\r\nhi\r\n--b1--\r\n",
    ])
    def test_missing_or_unclosed_boundaries_are_refused(self, body: bytes) -> None:
        assert refusal(crlf(HEAD) + body) == S554_BAD_BOUNDARY

    @pytest.mark.parametrize("inner", ["outer", "outer-2", "out"])
    def test_a_boundary_repeated_inside_is_refused(self, inner: str) -> None:
        """A nested multipart reusing (or extending) its parent's boundary splits two ways."""
        ictype, ibody = multipart("alternative", inner, [part(["Content-Type: text/plain"],
                                                               b"hi")])
        ctype, body = multipart("mixed", "outer", [part([ictype], ibody)])
        assert refusal(message(ctype, body)) == S554_BAD_BOUNDARY

    @pytest.mark.parametrize("name", ["Content-Type", "Content-Transfer-Encoding",
                                      "Content-Disposition"])
    def test_duplicate_structure_headers_are_refused(self, name: str) -> None:
        """Readers that take the first and readers that take the last see two messages."""
        value = {"Content-Type": "text/plain", "Content-Transfer-Encoding": "7bit",
                 "Content-Disposition": "inline"}[name]
        ctype, body = multipart("mixed", "dup", [part([f"{name}: {value}", f"{name}: {value}"],
                                                      b"hi")])
        reply = refusal(message(ctype, body))
        assert f"more than one {name} header" in reply.text

    def test_part_without_blank_line_is_refused(self) -> None:
        """A body line read as a header (or not) changes what the part is."""
        ctype, body = multipart("mixed", "sep", [b"Content-Type: text/plain\r\nno colon here"])
        assert refusal(message(ctype, body)) == S554_BAD_PART_HEADERS

    @pytest.mark.parametrize("header", [
        "Subject: " + "x" * 1000,
        "Content-Description: " + "x" * 990,
        "Subject: " + "\r\n ".join(["x" * 900] * 40),
    ])
    def test_overlong_headers_are_refused(self, header: str) -> None:
        """A header line past 998 characters, or a field past 32 KiB: refused naming it."""
        raw = crlf(f"From: {SELLER}\n") + header.encode() + b"\r\n\r\nhi\r\n"
        name = header.partition(":")[0]
        assert f"the {name} header is longer" in refusal(raw).text

    def test_repeated_subject_keeps_the_first(self) -> None:
        """Headers that do not shape the message are not refused when repeated: first wins."""
        out = run(crlf(f"From: {SELLER}\nSubject: one\nSubject: two {SELLER}\n\nhi\n"))
        assert parse(out).get_all("Subject") == ["one"]

    def test_check_structure_alone(self) -> None:
        """The early step's check sees the same bombs the rewrite does."""
        with pytest.raises(Refused):
            check_structure(parse(nested(11)))
        check_structure(parse(nested(10)))


class TestRemovedWithANote:
    def attachment(self, headers: list[str], body: bytes) -> bytes:
        ctype, mixed = multipart("mixed", "att", [
            part(["Content-Type: text/plain; charset=utf-8"], b"see attached"),
            part(headers, body),
        ])
        return message(ctype, mixed)

    @pytest.mark.parametrize("payload", [
        b"JVBERi0xLjQK=", b"JVBERi0xLjQ", b"JVBERi0x!LjQK", b"JVBERi0xLjQK====JVBE",
        b"JVBERi0xLjQK\xff\xfe",
    ])
    def test_bad_base64_part_is_removed(self, payload: bytes) -> None:
        """Bad padding or garbage in base64 decodes differently in each reader: the part goes."""
        out = run(self.attachment(["Content-Type: application/pdf; name=a.pdf",
                                   "Content-Transfer-Encoding: base64"], payload))
        text, note = notes(out)
        assert text == "see attached"
        assert note == "A part that could not be read was removed (its base64 encoding is " \
                       "damaged): a.pdf\n"
        assert all(p.get_content_type() != "application/pdf" for p in parse(out).walk())

    @pytest.mark.parametrize("cte", ["x-uuencode", "uuencode", "x-uue", "x-gzip64"])
    def test_uuencoded_and_unknown_encodings_are_removed(self, cte: str) -> None:
        out = run(self.attachment(["Content-Type: application/octet-stream; name=x.exe",
                                   f"Content-Transfer-Encoding: {cte}"],
                                  b"begin 644 x.exe\r\n#0V%T\r\n`\r\nend\r\n"))
        assert notes(out)[1].startswith("A part that could not be read was removed")
        assert notes(out)[1].endswith(": x.exe\n")

    def test_uuencode_inside_text_is_cut(self) -> None:
        """A uuencoded block in a text part is an attachment to some clients: it is cut out."""
        body = b"Hello,\r\nbegin 644 invoice.exe\r\nM1F]O\r\n`\r\nend\r\nBye\r\n"
        text = notes(run(message("Content-Type: text/plain", body)))[0]
        assert "M1F]O" not in text
        assert text.startswith("Hello,\nBye\n")
        assert "uuencoded content is not passed on): invoice.exe" in text

    def test_message_partial_is_removed(self) -> None:
        """message/partial fragments are put together by some clients, unseen by relay."""
        out = run(self.attachment(["Content-Type: message/partial; id=x; number=1"], b"hi"))
        assert "relay does not pass on this kind of message part" in notes(out)[1]

    @pytest.mark.parametrize(("headers", "body"), [
        (["Content-Type: text/vcard; name=me.vcf"], f"BEGIN:VCARD\r\nEMAIL:{SELLER}\r\n"
                                                    "END:VCARD\r\n".encode()),
        (["Content-Type: text/x-vcard"], b"BEGIN:VCARD\r\nTEL:+15551234\r\nEND:VCARD\r\n"),
        (["Content-Type: application/octet-stream; name=card.vcf"], b"BEGIN:VCARD\r\n"),
        (["Content-Type: text/plain; name=notes.txt"], b"begin:vcard\r\nEND:VCARD\r\n"),
        (["Content-Type: application/pgp-keys"], b"-----BEGIN PGP PUBLIC KEY BLOCK-----\r\n"),
        (["Content-Type: application/octet-stream; name=key.asc"],
         b"-----BEGIN PGP PUBLIC KEY BLOCK-----\r\n\r\nmQINBF\r\n"),
        (["Content-Type: application/pkcs7-signature; name=smime.p7s"], b"0\x82"),
    ])
    def test_contact_carriers_are_removed(self, headers: list[str], body: bytes) -> None:
        """vCards, PGP keys and signatures name their owner in a form relay cannot rewrite."""
        out = run(self.attachment(headers, body))
        note = notes(out)[1]
        assert note.startswith("An attachment that could reveal contact details was removed: ")
        assert b"BEGIN:VCARD" not in out.upper()
        assert_private(out, seller_to_buyer())

    def test_vcard_note_names_the_file(self) -> None:
        out = run(self.attachment(["Content-Type: text/vcard",
                                   f'Content-Disposition: attachment; filename="{SELLER}.vcf"'],
                                  b"BEGIN:VCARD\r\nEND:VCARD\r\n"))
        assert notes(out)[1] == ("An attachment that could reveal contact details was removed: "
                                 f"{SELLER_ALIAS}.vcf\n")

    def test_key_block_inside_text_is_cut(self) -> None:
        body = (b"My key:\r\n-----BEGIN PGP PUBLIC KEY BLOCK-----\r\n\r\nmQINBF\r\n"
                b"-----END PGP PUBLIC KEY BLOCK-----\r\nThanks\r\n")
        text = notes(run(message("Content-Type: text/plain", body)))[0]
        assert "mQINBF" not in text
        assert text.startswith("My key:\n\nThanks")
        assert "could reveal contact details was removed: PGP key" in text

    def test_single_part_vcard_becomes_the_note(self) -> None:
        """A message that is only a vCard keeps its headers and becomes the note."""
        out = run(message("Content-Type: text/vcard", b"BEGIN:VCARD\r\nEND:VCARD\r\n"))
        delivered = parse(out)
        assert delivered["Subject"] == "s"
        assert delivered.get_content_type() == "text/plain"
        assert "could reveal contact details" in text_of(delivered)


class TestCleaned:
    def test_nul_and_controls_never_reach_the_recipient(self) -> None:
        """NUL and other C0 controls in text are dropped; tabs and line breaks stay."""
        body = b"a\x00b\x01c\x1bd\x7fe\tf\r\n"
        out = run(message("Content-Type: text/plain; charset=utf-8\n"
                          "Content-Transfer-Encoding: 8bit", body))
        assert b"\x00" not in out
        assert text_of(parse(out)) == "abcde\tf\n"

    def test_nul_in_base64_text_is_dropped_too(self) -> None:
        body = base64.b64encode(b"a\x00b\r\n")
        out = run(message("Content-Type: text/plain\nContent-Transfer-Encoding: base64", body))
        assert text_of(parse(out)) == "ab\n"

    def test_binary_with_nul_is_base64(self) -> None:
        """NUL in a binary part is content: it travels inside base64, never as a byte."""
        data = b"\x00\x01PNG\x00"
        out = run(message("Content-Type: image/png\nContent-Transfer-Encoding: binary", data))
        assert b"\x00" not in out
        assert parse(out).get_payload(decode=True) == data

    def test_eight_bit_headers_are_encoded(self) -> None:
        """Raw UTF-8 in a header is read as UTF-8 and sent as encoded words, 7-bit."""
        raw = "From: a@b.example\r\nSubject: Grüße\r\n\r\nhi\r\n".encode()
        out = run(raw)
        assert out.isascii()
        assert parse(out)["Subject"] == "Grüße"

    def test_eight_bit_text_declared_7bit_is_reencoded(self) -> None:
        raw = "From: a@b.example\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nGrüße\r\n"
        out = run(raw.encode())
        assert out.isascii()
        assert text_of(parse(out)) == "Grüße\n"

    @pytest.mark.parametrize("subject", [
        "=?utf-8?q?Hello=0D=0ABcc:_victim@evil.example?=",
        "=?utf-8?b?" + base64.b64encode(b"Hello\r\nBcc: victim@evil.example").decode() + "?=",
        "=?utf-8?q?Hello=0ABcc:_victim@evil.example=00?=",
    ])
    def test_encoded_word_injection_stays_in_its_header(self, subject: str) -> None:
        """CR/LF decoded from an encoded word become a space: no new header appears."""
        out = run(crlf(f"From: {SELLER}\nSubject: {subject}\n\nhi\n"))
        delivered = parse(out)
        assert "Bcc" not in delivered
        assert delivered["Subject"] == "Hello Bcc: victim@evil.example"
        assert b"\r\nBcc:" not in out

    @pytest.mark.parametrize(("disposition", "expected"), [
        ("attachment; filename*=utf-8''..%2F..%2Fetc%2Fpasswd", "passwd"),
        ('attachment; filename="..\\\\..\\\\Windows\\\\win.ini"', "win.ini"),
        ("attachment; filename*0*=utf-8''%2E%2E%2F; filename*1=evil.pdf", "evil.pdf"),
        ('attachment; filename="/"', "attachment"),
        ("attachment; filename*=utf-8''invoice%E2%80%AEfdp.exe", "invoicefdp.exe"),
        ("attachment; filename*=utf-8''a%E2%81%A6b%E2%80%8Bc%00d.pdf", "abcd.pdf"),
        ('attachment; filename="=?utf-8?q?x=0D=0Ay.pdf?="', "xy.pdf"),
    ])
    def test_file_names_are_basenames_without_controls(self, disposition: str,
                                                       expected: str) -> None:
        """Path traversal keeps the last component; bidi overrides and controls are removed."""
        raw = message(f"Content-Type: application/pdf\nContent-Disposition: {disposition}\n"
                      "Content-Transfer-Encoding: base64", b"JVBERi0xLjQK\r\n")
        delivered = parse(run(raw))
        assert delivered.get_filename() == expected
        assert delivered["Content-Type"].params.get("name") == expected

    def test_clean_helpers(self) -> None:
        assert clean_text("a\r\n b\x00c\u202ed") == "a b c d".replace("c d", "cd")
        assert clean_filename("dir/\u202egpj.exe") == "gpj.exe"


class TestWrittenByRelay:
    def test_boundaries_are_new_and_random(self) -> None:
        """No boundary of the sender's survives, and two rewrites use different ones."""
        ctype, body = multipart("mixed", f"=_{SELLER}_boundary", [
            part(["Content-Type: text/plain"], b"hi")])
        raw = message(ctype, body)
        first, second = run(raw), run(raw)
        assert b"_boundary" not in first
        boundary = parse(first).get_boundary()
        assert boundary
        assert len(boundary) == 32
        assert boundary != parse(second).get_boundary()

    def test_content_ids_move_to_the_relay_domain(self) -> None:
        """Content-IDs are new at the relay's domain, and the HTML's cid: links follow."""
        ctype, related = multipart("related", "rel", [
            part(["Content-Type: text/html; charset=utf-8"],
                 b'<img src="cid:logo.1@shop.example"><img src="CID:logo.1%40shop.example">'
                 b'<img src="cid:nothing@shop.example">'),
            part(["Content-Type: image/png", "Content-ID: <logo.1@shop.example>",
                  "Content-Location: http://shop.example/logo.png",
                  "Content-Transfer-Encoding: base64"], b"iVBORw0KGgo=\r\n"),
        ])
        out = rewrite(parse(message(ctype.replace("related;", 'related; start="<x@shop.example>";'),
                                    related)),
                      seller_to_buyer(), message_id=NEW_ID, in_reply_to=[], references=[],
                      domain="relay.example")
        assert b"shop.example" not in out
        assert b"Content-Location" not in out
        html_part, image = children(parse(out))
        new_id = str(image["Content-ID"])
        assert new_id.startswith("<")
        assert new_id.endswith("@relay.example>")
        src = text_of(html_part)
        assert src.count(f'"cid:{new_id[1:-1]}"') == 2
        assert "cid:" in src.rpartition("<img")[2]
        start = parse(out)["Content-Type"].params["start"]
        assert start.endswith("@relay.example>")

    def test_text_is_utf8_in_relays_encoding(self) -> None:
        """Mostly-ASCII text goes quoted-printable, mostly non-ASCII text base64."""
        latin = run(message("Content-Type: text/plain; charset=iso-8859-1",
                            "Grüße aus Köln, bis bald\r\n".encode("iso-8859-1")))
        cjk = run(message("Content-Type: text/plain; charset=utf-8",
                          "ご注文ありがとうございます\r\n".encode()))
        assert parse(latin)["Content-Transfer-Encoding"] == "quoted-printable"
        assert parse(cjk)["Content-Transfer-Encoding"] == "base64"
        assert text_of(parse(cjk)) == "ご注文ありがとうございます\n"

    def test_calendar_is_rewritten_inside(self) -> None:
        """ORGANIZER and ATTENDEE mailto: of the sender become the alias, folded lines too."""
        ics = ("BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\n"
               "ORGANIZER;CN=Acme:mailto:sel\r\n ler@shop.example\r\n"
               f"ATTENDEE;CN=Acme:MAILTO:{SELLER.upper()}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
        out = run(message("Content-Type: text/calendar; method=REQUEST; charset=utf-8",
                          ics.encode()))
        assert_private(out, seller_to_buyer())
        delivered = parse(out)
        assert delivered.get_param("method") == "REQUEST"
        text = text_of(delivered)
        unfolded = text.replace("\n ", "")
        assert f"ORGANIZER;CN=Acme:mailto:{SELLER_ALIAS}" in unfolded
        assert f"ATTENDEE;CN=Acme:MAILTO:{SELLER_ALIAS}" in unfolded
        assert all(len(line.encode()) <= 75 for line in text.splitlines())

    def test_hooks_see_each_text_part(self) -> None:
        """A text hook (the HTML sanitiser's, say) gets each scrubbed text part to change."""
        ctype, body = multipart("alternative", "alt", [
            part(["Content-Type: text/plain"], f"plain {SELLER}".encode()),
            part(["Content-Type: text/html"], b"<b>rich</b><script>x</script>"),
        ])
        seen: list[tuple[str, str]] = []

        def hook(ctype: str, text: str) -> str:
            seen.append((ctype, text))
            return text.replace("<script>x</script>", "")

        out = rewrite(parse(message(ctype, body)), seller_to_buyer(), message_id=NEW_ID,
                      in_reply_to=[], references=[], hooks=[hook])
        assert seen == [("text/plain", f"plain {SELLER_ALIAS}"),
                        ("text/html", "<b>rich</b><script>x</script>")]
        assert b"script" not in out

    def test_hook_refusal_stops_the_message(self) -> None:
        def hook(ctype: str, text: str) -> str:
            raise Refused(S554_MALFORMED)

        with pytest.raises(Refused):
            rewrite(parse(crlf(f"{HEAD}\nhi\n")), seller_to_buyer(), message_id=NEW_ID,
                    in_reply_to=[], references=[], hooks=[hook])


def test_signed_message_arrives_unsigned_as_mixed() -> None:
    """The signature is removed with a note; the signed multipart becomes multipart/mixed."""
    ctype, body = multipart("signed", "sig", [
        part(["Content-Type: text/plain"], b"Your order"),
        part(["Content-Type: application/pkcs7-signature; name=smime.p7s",
              "Content-Transfer-Encoding: base64"], b"MIIB\r\n"),
    ])
    ctype = ctype.replace("signed;", 'signed; protocol="application/pkcs7-signature"; '
                                     "micalg=sha-256;")
    delivered = parse(run(message(ctype, body)))
    assert delivered.get_content_type() == "multipart/mixed"
    assert "protocol" not in delivered["Content-Type"].params
    text, note = (text_of(p) for p in children(delivered))
    assert text == "Your order"
    assert note.endswith("was removed: smime.p7s\n")


def test_message_global_is_rewritten() -> None:
    """A forwarded message/global (UTF-8 headers) is parsed and rewritten like rfc822."""
    inner = f"From: Jürgen <{SELLER}>\r\nSubject: Grüße\r\n\r\nvon {SELLER}\r\n".encode()
    ctype, body = multipart("mixed", "g", [part(["Content-Type: message/global"], inner)])
    out = run(message(ctype, body))
    assert_private(out, seller_to_buyer())
    forwarded = children(children(parse(out))[0])[0]
    assert forwarded["Subject"] == "Grüße"
    assert text_of(forwarded) == f"von {SELLER_ALIAS}\n"


@pytest.mark.parametrize("param", [f'type="{SELLER}"', "type*=utf-8''seller%40shop.example",
                                   'report-type="a b"'])
def test_parameters_that_are_not_tokens_go(param: str) -> None:
    """A multipart keeps `type` and `report-type` only as MIME tokens: they name nothing."""
    ctype, body = multipart("related", "p", [part(["Content-Type: text/plain"], b"hi")])
    out = run(message(ctype.replace("related;", f"related; {param};"), body))
    assert_private(out, seller_to_buyer())
    params = parse(out)["Content-Type"].params
    assert set(params) == {"boundary"}


@settings(max_examples=200, deadline=None)
@given(garbage=st.binary(max_size=300), noise=st.lists(st.sampled_from([
    b"Content-Type: multipart/mixed; boundary=x\r\n", b"Content-Type: message/rfc822\r\n",
    b"--x\r\n", b"--x--\r\n", b"\r\n", b"boundary*=x-unknown''%ff\r\n", b": ", b"\xff",
    b"Content-Transfer-Encoding: base64\r\n", b"Content-Type: multipart/mixed; boundary*0=x\r\n",
]), max_size=20))
def test_structure_step_only_refuses(garbage: bytes, noise: list[bytes]) -> None:
    """The early structure step answers any input with nothing or a 554, never an error."""
    tx = Transaction(id="t", peer="p", mail_from="m", received=b"".join(noise) + garbage)
    try:
        asyncio.run(Structure()(tx))
    except Refused as refused:
        assert refused.reply.code == 554  # noqa: PT017 - the reply is the point
