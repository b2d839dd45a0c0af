"""The judges alone: names against content, and the bounded readers of PDF and Office files."""

from __future__ import annotations

import base64
import contextlib
import io
import random
import zipfile
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.content import office, pdf, transfer
from relay.content.attachments import Attachments
from relay.content.filetypes import Disallowed, Sniffer, extension, judge
from relay.content.scrub import Scrubber
from relay.message import Transaction, parse
from relay.model import Route
from relay.replies import Refused
from tests.unit.content import files

SELLER = "owner@acme-shop.example"
ROUTE = Route(alias="b@relay.example", kind="seller-to-buyer", relationship_id=1, buyer_id="b1",
              seller_id="s1", recipient="bob@mailbox.example", sender_addresses=(SELLER,),
              sender_name="Acme", sender_alias="s@relay.example")
ALLOWED = frozenset({"pdf", "jpg", "jpeg", "png", "gif", "txt", "doc", "docx"})


@pytest.fixture(scope="module")
def sniffer() -> Sniffer:
    return Sniffer()


@pytest.fixture
def scrubber() -> Scrubber:
    return Scrubber([SELLER], "shop-alias@relay.example")


class TestNames:
    @pytest.mark.parametrize(("name", "ext"), [
        ("a.PDF", "pdf"), ("a.exe.", "exe"), ("a.pdf. . ", "pdf"), (".pdf", ""), ("a", ""),
        ("a.exe.pdf", "pdf"), ("a.pdf.exe", "exe"),
    ])
    def test_the_extension_is_what_a_desktop_goes_by(self, name: str, ext: str) -> None:
        assert extension(name) == ext

    def test_every_name_must_agree_with_the_content(self, sniffer: Sniffer) -> None:
        """Content-Disposition says .pdf, Content-Type's name says .exe: refused."""
        data = files.pdf()
        with pytest.raises(Disallowed, match="only these kinds"):
            judge(sniffer.sniff(data), ["a.pdf", "a.exe"], ALLOWED, data)

    def test_an_image_that_opens_a_javascript_comment_is_a_polyglot(
        self, sniffer: Sniffer
    ) -> None:
        """GIF89a/*...*/=alert(1): a GIF to an image viewer, a script to a browser."""
        data = b"GIF89a/*" + files.GIF[8:] + b"*/=alert(1);"
        with pytest.raises(Disallowed, match="also a web page or a script"):
            judge(sniffer.sniff(data), ["a.gif"], ALLOWED, data)

    def test_a_pdf_that_is_also_a_zip_is_refused(self, sniffer: Sniffer) -> None:
        data = files.pdf() + files.zip_archive()
        with pytest.raises(Disallowed, match="also a ZIP archive"):
            judge(sniffer.sniff(data), ["a.pdf"], ALLOWED, data)

    def test_a_type_outside_the_list_is_refused_even_when_named_truly(
        self, sniffer: Sniffer
    ) -> None:
        with pytest.raises(Disallowed, match="only these kinds"):
            judge(sniffer.sniff(files.zip_archive()), ["a.zip"], ALLOWED, files.zip_archive())

    def test_an_added_type_is_judged_as_its_registered_mime_type(self, sniffer: Sniffer) -> None:
        data = files.zip_archive()
        assert judge(sniffer.sniff(data), ["a.zip"], ALLOWED | {"zip"}, data) == "application/zip"


class TestPdf:
    def test_a_plain_pdf_passes(self, scrubber: Scrubber) -> None:
        pdf.check_pdf(files.pdf(), scrubber)

    @pytest.mark.parametrize("name", [b"/JavaScript", b"/J#61vaScript", b"/#4A#53", b"/Launch"])
    def test_an_active_name_is_found_however_spelt(self, scrubber: Scrubber, name: bytes) -> None:
        data = files.pdf(objects=(b"<< /S " + name + b" >>",))
        with pytest.raises(Disallowed, match="JavaScript"):
            pdf.check_pdf(data, scrubber)

    def test_a_name_that_merely_starts_like_one_is_not_active(self, scrubber: Scrubber) -> None:
        pdf.check_pdf(files.pdf(objects=(b"<< /JSONData 1 /Launcher 2 >>",)), scrubber)

    def test_an_encrypted_pdf_cannot_be_checked(self, scrubber: Scrubber) -> None:
        data = files.pdf().replace(b"/Root 1 0 R", b"/Root 1 0 R /Encrypt 9 0 R")
        with pytest.raises(Disallowed, match="encrypted"):
            pdf.check_pdf(data, scrubber)

    def test_an_indirect_filter_cannot_be_checked(self, scrubber: Scrubber) -> None:
        stream = b"<< /Filter 9 0 R /Length 3 >>\nstream\nabc\nendstream"
        with pytest.raises(Disallowed, match="could not be checked"):
            pdf.check_pdf(files.pdf(objects=(stream,)), scrubber)

    def test_a_stream_inflating_past_the_budget_is_refused(
        self, scrubber: Scrubber, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The bound holds: past INFLATE_BUDGET the file is refused, not inflated further."""
        monkeypatch.setattr(pdf, "INFLATE_BUDGET", 1 << 16)
        bomb = zlib.compress(b"\x00" * (1 << 20), 9)
        stream = (b"<< /Filter /FlateDecode /Length " + str(len(bomb)).encode()
                  + b" >>\nstream\n" + bomb + b"\nendstream")
        with pytest.raises(Disallowed, match="too large"):
            pdf.check_pdf(files.pdf(objects=(stream,)), scrubber)

    def test_the_address_is_found_in_octal_escapes_and_utf16(self, scrubber: Scrubber) -> None:
        octal = SELLER.replace("@", "\\100")
        with pytest.raises(Disallowed, match="your own email address"):
            pdf.check_pdf(files.pdf(octal), scrubber)
        wide = b"<FEFF" + SELLER.encode("utf-16-be").hex().encode() + b">"
        with pytest.raises(Disallowed, match="your own email address"):
            pdf.check_pdf(files.pdf(objects=(b"<< /Author " + wide + b" >>",)), scrubber)

    def test_the_address_split_across_kerned_strings_is_found(self, scrubber: Scrubber) -> None:
        local, domain = SELLER.split("@")
        shown = f"{local}) -20 (@{domain}"
        with pytest.raises(Disallowed, match="your own email address"):
            pdf.check_pdf(files.pdf(shown), scrubber)


class TestOffice:
    def test_a_plain_document_passes(self, scrubber: Scrubber) -> None:
        office.check_package(files.office(), files.DOCX_TYPE, scrubber)

    def test_an_embedded_ole_package_counts_as_active(self, scrubber: Scrubber) -> None:
        data = _with_part(files.office(), "word/embeddings/oleObject1.bin", b"x")
        with pytest.raises(Disallowed, match="macros"):
            office.check_package(data, files.DOCX_TYPE, scrubber)

    def test_a_vba_project_under_any_name_is_found_by_its_content_type(
        self, scrubber: Scrubber
    ) -> None:
        """Renaming vbaProject.bin does not help: [Content_Types].xml still declares it."""
        data = files.office(macros=True).replace(b"vbaProject.bin", b"harmless12.bin")
        with pytest.raises(Disallowed, match="macros"):
            office.check_package(data, files.DOCX_TYPE, scrubber)

    def test_too_many_entries_are_refused_before_the_directory_is_read(
        self, scrubber: Scrubber, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(office, "MAX_ENTRIES", 3)
        data = _with_part(_with_part(files.office(), "word/a.xml", b"<a/>"), "word/b.xml", b"<b/>")
        with pytest.raises(Disallowed, match="too many parts"):
            office.check_package(data, files.DOCX_TYPE, scrubber)

    def test_text_past_the_budget_is_not_read(
        self, scrubber: Scrubber, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The bound is on what is read: an address past TEXT_BUDGET is accepted unread."""
        monkeypatch.setattr(office, "TEXT_BUDGET", 4096)
        late = b"<w:t>" + b" " * 8192 + SELLER.encode() + b"</w:t>"
        data = _with_part(files.office(), "word/footer1.xml", late)
        office.check_package(data, files.DOCX_TYPE, scrubber)
        monkeypatch.setattr(office, "TEXT_BUDGET", 1 << 20)
        with pytest.raises(Disallowed, match="your own email address"):
            office.check_package(data, files.DOCX_TYPE, scrubber)

    def test_a_word97_file_without_its_document_stream_is_no_doc(
        self, scrubber: Scrubber
    ) -> None:
        with pytest.raises(Disallowed, match="not the Office document"):
            office.check_ole(files.ole({"Other": b"x"}), "application/msword", scrubber)


def _with_part(package: bytes, name: str, data: bytes) -> bytes:
    out = io.BytesIO(package)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return out.getvalue()


_PDF_PIECES = st.sampled_from([
    b"(", b")", b"\\", b"\\8", b"\\777", b"<", b">", b"<<", b">>", b"/Filter", b"/FlateDecode",
    b"/ASCIIHexDecode", b"/A85", b"/Length 5", b"/Length 99999999999", b"stream\n",
    b"\nendstream", b"obj", b"#", b"/J#", b"/Predictor", b"/Subtype /Image", b"[", b"]",
    b"<FEFF", b"x\x9c", b"/Encrypt", b"~>", b"\x00", b"\xff",
])


class TestHostileBytes:
    @settings(max_examples=300, deadline=None)
    @given(data=st.lists(st.one_of(_PDF_PIECES, st.binary(max_size=16)), max_size=60))
    def test_the_pdf_reader_only_accepts_or_refuses(self, data: list[bytes]) -> None:
        """Whatever the bytes, the answer is a verdict, never another exception."""
        with contextlib.suppress(Disallowed):
            pdf.check_pdf(b"%PDF-1.7\n" + b"".join(data), Scrubber([SELLER], "x@relay.example"))

    @settings(max_examples=100, deadline=None)
    @given(cut=st.integers(min_value=0, max_value=2000), flip=st.binary(min_size=1, max_size=4))
    def test_the_office_readers_only_accept_or_refuse(self, cut: int, flip: bytes) -> None:
        scrubber = Scrubber([SELLER], "x@relay.example")
        for data, check in ((files.office(), _package), (files.word97(), _word97)):
            at = cut % len(data)
            with contextlib.suppress(Disallowed):
                check(data[:at] + flip + data[at + len(flip):], scrubber)


def _package(data: bytes, scrubber: Scrubber) -> None:
    office.check_package(data, files.DOCX_TYPE, scrubber)


def _word97(data: bytes, scrubber: Scrubber) -> None:
    office.check_ole(data, "application/msword", scrubber)


class TestStep:
    async def test_a_pdf_of_random_bytes_is_judged_not_crashed_on(self) -> None:
        """Random bytes after %PDF hold strings like `(\\8)`: read as PDF allows, no traceback."""
        data = b"%PDF-1.4\n" + random.Random(1).randbytes(1 << 20)
        message = parse(b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
                        b"Content-Type: application/pdf\r\nContent-Disposition: attachment;"
                        b" filename=invoice.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                        + base64.encodebytes(data) + b"\r\n--b--\r\n")
        tx = Transaction(id="t", peer="p", mail_from=SELLER, route=ROUTE, message=message)
        await Attachments(ALLOWED, 10 << 20)(tx)
        assert list(message.walk())[1].get_content_type() == "application/pdf"


class TestExcel97:
    def test_a_workbook_with_a_vba_project_is_refused(self, scrubber: Scrubber) -> None:
        """Excel keeps its VBA project in _VBA_PROJECT_CUR (MS-OVBA §2.2.1)."""
        data = files.ole({"Workbook": b"\x09\x08", "_VBA_PROJECT_CUR/PROJECT": b"ID=\"{0}\"\r\n",
                          "_VBA_PROJECT_CUR/VBA/_VBA_PROJECT": b"\xcc\x61\xff\xff\x00\x00\x00",
                          "_VBA_PROJECT_CUR/VBA/dir": b"\x01"})
        with pytest.raises(Disallowed, match="macros"):
            office.check_ole(data, "application/vnd.ms-excel", scrubber)

    def test_a_workbook_without_macros_passes(self, scrubber: Scrubber) -> None:
        office.check_ole(files.ole({"Workbook": b"\x09\x08"}), "application/vnd.ms-excel",
                         scrubber)


class TestPdfStreamsNotRead:
    @pytest.mark.parametrize("kind", [b"/Length1 40", b"/Subtype /Image", b"/Subtype /Type1C",
                                      b"/Type /EmbeddedFile"])
    def test_bytes_of_fonts_images_and_embedded_files_spell_no_names(
        self, scrubber: Scrubber, kind: bytes
    ) -> None:
        """A glyph program's bytes may spell "/JS (": no reader takes a name from them."""
        packed = zlib.compress(b"\x00\x01/JS (x)\x02" * 4)
        stream = (b"<< " + kind + b" /Filter /FlateDecode /Length " + str(len(packed)).encode()
                  + b" >>\nstream\n" + packed + b"\nendstream")
        pdf.check_pdf(files.pdf(objects=(stream,)), scrubber)
        content = stream.replace(kind, b"")
        with pytest.raises(Disallowed, match="JavaScript"):
            pdf.check_pdf(files.pdf(objects=(content,)), scrubber)

    def test_an_object_stream_disguised_as_an_image_is_read(self, scrubber: Scrubber) -> None:
        """Readers take an object stream by its /N and /First: other keys hide nothing."""
        packed = zlib.compress(b"6 0 << /S /JavaScript /JS (app.alert\\(1\\)) >>")
        stream = (b"<< /Subtype /Image /Length1 9 /N 1 /First 4 /Filter /FlateDecode /Length "
                  + str(len(packed)).encode() + b" >>\nstream\n" + packed + b"\nendstream")
        with pytest.raises(Disallowed, match="JavaScript"):
            pdf.check_pdf(files.pdf(objects=(stream,)), scrubber)


class TestSizeBeforeDecoding:
    async def test_base64_past_the_limit_is_refused_before_it_is_decoded(self) -> None:
        """552 from the encoded length alone: the bytes are never decoded to be counted."""
        data = base64.encodebytes(b"x" * 9000)
        message = parse(b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
                        b"Content-Type: text/plain\r\nContent-Disposition: attachment;"
                        b" filename=big.txt\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                        + data.replace(b"\n", b"\r\n") + b"\r\n--b--\r\n")
        tx = Transaction(id="t", peer="p", mail_from=SELLER, route=ROUTE, message=message)
        with pytest.raises(Refused) as refused:
            await Attachments(ALLOWED, 8000)(tx)
        assert refused.value.reply.code == 552
        assert list(message.walk())[1] not in transfer._decoded

    async def test_base64_exactly_at_the_limit_passes(self) -> None:
        data = base64.encodebytes(b"x" * 9000)
        message = parse(b"Content-Type: text/plain\r\nContent-Disposition: attachment;"
                        b" filename=big.txt\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                        + data.replace(b"\n", b"\r\n"))
        tx = Transaction(id="t", peer="p", mail_from=SELLER, route=ROUTE, message=message)
        await Attachments(ALLOWED, 9000)(tx)
