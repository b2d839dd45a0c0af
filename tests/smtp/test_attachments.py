"""Attachments over SMTP: judged by content and name, free of active content and of the
sender's address, within a total size; the recipient gets the type the content shows."""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from relay.replies import S550_ATTACHMENT, S552_ATTACHMENTS_TOO_BIG
from tests.smtp.conftest import BUYER, SELLER, Client, World, WorldFactory
from tests.unit.content import files


@dataclass(frozen=True)
class File:
    name: str | None
    data: bytes
    label: str = "application/octet-stream"
    disposition: str | None = "attachment"


def mail(sender: str, to: str, *attached: File, body: str = "Please find it attached.") -> bytes:
    """A multipart/mixed message as a client writes it, each file in base64."""
    out = [f"From: <{sender}>\r\nTo: {to}\r\nSubject: Your order\r\nMIME-Version: 1.0\r\n"
           'Content-Type: multipart/mixed; boundary="b0"\r\n\r\n'
           f'--b0\r\nContent-Type: text/plain; charset="utf-8"\r\n\r\n{body}\r\n']
    for file in attached:
        label = file.label + (f'; name="{file.name}"' if file.name else "")
        out.append(f"--b0\r\nContent-Type: {label}\r\nContent-Transfer-Encoding: base64\r\n")
        if file.disposition:
            named = f'; filename="{file.name}"' if file.name else ""
            out.append(f"Content-Disposition: {file.disposition}{named}\r\n")
        out.append("\r\n" + base64.encodebytes(file.data).decode().replace("\n", "\r\n"))
    out.append("--b0--\r\n")
    return "".join(out).encode()


async def send(world: World, *attached: File, buyer_writes: bool = False) -> tuple[int, str]:
    sender, alias = ((BUYER, world.aliases.seller_alias) if buyer_writes
                     else (SELLER, world.aliases.buyer_alias))
    async with Client(world.port) as client:
        answer = await client.send(sender, alias, mail(sender, alias, *attached))
    return answer.code, answer.text


async def delivered(world: World) -> EmailMessage:
    received = await world.upstream.handler.wait_for(1)
    message = message_from_bytes(received[-1].data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def refusal(name: str) -> str:
    return f'{S550_ATTACHMENT.enhanced} The attachment "{name}" is not allowed: '


class TestAllowedFiles:
    @pytest.mark.parametrize(("name", "data", "judged"), [
        ("invoice.pdf", files.pdf(), "application/pdf"),
        ("photo.png", files.PNG, "image/png"),
        ("photo.jpeg", files.JPEG, "image/jpeg"),
        ("anim.gif", files.GIF, "image/gif"),
        ("letter.docx", files.office(), files.DOCX_TYPE),
        ("letter.doc", files.word97(), "application/msword"),
    ])
    async def test_an_allowed_file_arrives_whole_under_the_type_its_content_shows(
        self, world: World, name: str, data: bytes, judged: str
    ) -> None:
        """The sender's label (octet-stream) is replaced by the judged type; bytes unchanged."""
        assert (await send(world, File(name, data)))[0] == 250
        part = next((await delivered(world)).iter_attachments())
        assert part.get_content_type() == judged
        assert part.get_filename() == name
        assert part.get_payload(decode=True) == data

    async def test_a_misleading_label_does_not_reach_the_recipient(self, world: World) -> None:
        """A PNG labelled image/jpeg is delivered as image/png."""
        assert (await send(world, File("photo.png", files.PNG, "image/jpeg")))[0] == 250
        part = next((await delivered(world)).iter_attachments())
        assert part.get_content_type() == "image/png"

    async def test_an_inline_image_without_a_name_is_judged_by_its_content(
        self, world: World
    ) -> None:
        """An inline image with neither name nor disposition passes as what it is."""
        assert (await send(world, File(None, files.GIF, "image/gif", None)))[0] == 250
        message = await delivered(world)
        gif = [p for p in message.walk() if p.get_content_maintype() == "image"]
        assert [p.get_content_type() for p in gif] == ["image/gif"]

    async def test_a_text_attachment_is_rewritten_like_the_body(self, world: World) -> None:
        """The sender's address in a .txt file becomes their alias."""
        note = f"Write to {SELLER} any time.\n".encode()
        assert (await send(world, File("notes.txt", note, "text/plain")))[0] == 250
        part = next((await delivered(world)).iter_attachments())
        text = part.get_content()
        assert SELLER not in text
        assert world.aliases.seller_alias in text


class TestRefusedFiles:
    @pytest.mark.parametrize(("name", "data", "label", "why"), [
        ("invoice.pdf", files.EXE, "application/pdf", "its content is a Windows program"),
        ("invoice.pdf", files.zip_archive(), "application/pdf", "its content is a ZIP archive"),
        ("logo.png", files.SVG, "image/png", "it is an SVG image"),
        ("logo.svg", files.SVG, "image/svg+xml", "it is an SVG image"),
        ("setup.exe", files.EXE, "application/octet-stream",
         "only these kinds of file can be sent: doc, docx, gif"),
        ("page.png", files.PNG + b"<script>alert(1)</script>", "image/png",
         "it is also a web page or a script"),
        ("notes.txt", b"<html><body><script>alert(1)</script></body></html>", "text/plain",
         "it is a web page"),
        ("letter.docx", files.office(macros=True), files.DOCX_TYPE, "it contains macros"),
        ("letter.doc", files.word97(macros=True), "application/msword", "it contains macros"),
        ("letter.docx", files.zip_archive(), files.DOCX_TYPE,
         "its content is a ZIP archive, not an Office document"),
        ("invoice.pdf", files.pdf_with_javascript(), "application/pdf", "it contains JavaScript"),
        ("invoice.pdf", files.pdf_with_hidden_launch(), "application/pdf",
         "it contains JavaScript or an action that starts a program"),
    ])
    async def test_a_disallowed_file_is_refused_naming_it(
        self, world: World, name: str, data: bytes, label: str, why: str
    ) -> None:
        """550 5.7.1 names the file and says why; nothing is delivered."""
        code, text = await send(world, File(name, data, label))
        assert (code, text[: len(refusal(name))]) == (550, refusal(name))
        assert why in text
        assert world.upstream.handler.messages == []

    async def test_an_unnamed_inline_program_is_refused(self, world: World) -> None:
        """A part without disposition or name is an attachment all the same."""
        code, text = await send(world, File(None, files.EXE, "image/png", None))
        assert (code, text[: len(refusal("(no name)"))]) == (550, refusal("(no name)"))

    async def test_a_buyer_is_held_to_the_same_rules(self, world: World) -> None:
        """Both route kinds judge attachments."""
        code, text = await send(world, File("cv.pdf", files.EXE), buyer_writes=True)
        assert (code, text[: len(refusal("cv.pdf"))]) == (550, refusal("cv.pdf"))


class TestSendersAddress:
    @pytest.mark.parametrize(("name", "data"), [
        ("invoice.pdf", files.pdf(f"Contact: {SELLER}")),
        ("invoice.pdf", files.pdf(f"Contact: {SELLER}", compress=False)),
        ("letter.docx", files.office(text=f"Write to {SELLER} directly")),
        ("letter.doc", files.word97(f"Write to {SELLER} directly")),
    ])
    async def test_a_document_showing_the_senders_address_is_refused(
        self, world: World, name: str, data: bytes
    ) -> None:
        """The address in a PDF's or an Office document's text refuses it, naming the file."""
        code, text = await send(world, File(name, data))
        assert (code, text[: len(refusal(name))]) == (550, refusal(name))
        assert "your own email address" in text


class TestSize:
    async def test_base64_that_decodes_past_the_limit_is_refused_naming_the_file(
        self, make_world: WorldFactory
    ) -> None:
        """552 5.3.4: the limit counts decoded bytes, over all attachments together."""
        world = await make_world(content={"max_attachment_bytes": 4096})
        first = File("a.txt", b"x" * 3000, "text/plain")
        second = File("b.txt", b"y" * 1500, "text/plain")  # encoded, both are under 8 KiB
        code, text = await send(world, first, second)
        assert code == 552
        assert text == (f"{S552_ATTACHMENTS_TOO_BIG.enhanced} The attachment \"b.txt\" brings the"
                        " attachments past the 4096 bytes this relay accepts")

    async def test_attachments_up_to_the_limit_pass(self, make_world: WorldFactory) -> None:
        world = await make_world(content={"max_attachment_bytes": 4096})
        assert (await send(world, File("a.txt", b"x" * 4096, "text/plain")))[0] == 250


class TestReload:
    async def test_a_reload_applies_new_types_and_limit_to_the_next_message(
        self, world: World
    ) -> None:
        """SIGHUP's reload rebuilds the step: a ZIP refused before is accepted after."""
        archive = File("photos.zip", files.zip_archive())
        assert (await send(world, archive))[0] == 550
        settings = world.relay.settings
        content = dataclasses.replace(
            settings.content, attachment_types=(*settings.content.attachment_types, "zip"))
        await world.relay.reload(dataclasses.replace(settings, content=content))
        assert (await send(world, archive))[0] == 250
        part = next((await delivered(world)).iter_attachments())
        assert part.get_content_type() == "application/zip"
