"""Office documents: no macros, and no sender's address in their text.

An Office Open XML file (.docx) is a ZIP: what it holds is read from the
central directory alone, after a bounded count of entries, so a ZIP bomb is never
inflated. Only its XML parts are read for text, and only up to `TEXT_BUDGET`.
A legacy file (.doc, .xls) is an OLE compound file: oletools looks for VBA
projects and Excel 4 macros, and its streams are searched for the address.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
import zipfile
import zlib

from relay.content.filetypes import DOCX, PPTX, XLSX, Disallowed
from relay.content.scrub import Scrubber

MAX_ENTRIES = 2_000  # a long .docx has a few dozen parts; a bomb has a million
TEXT_BUDGET = 8 << 20  # uncompressed XML read for addresses, per document
_END = struct.Struct("<4s4H2LH")  # APPNOTE 4.3.16, end of central directory record
_MAIN = {DOCX: "word/document.xml", XLSX: "xl/workbook.xml", PPTX: "ppt/presentation.xml"}
# Parts that carry code or controls: a VBA project, ActiveX, an OLE package (an
# embedded program), or an embedded macro-enabled document.
_ACTIVE = re.compile(
    r"(?:^|/)(?:vbaproject\.bin|vbadata\.xml|activex[^/]*|oleobject[^/]*\.bin)$"
    r"|(?:^|/)embeddings/.*\.(?:bin|docm|xlsm|pptm|dotm|xltm|potm|ppsm|xlam|ppam)$",
    re.IGNORECASE,
)
# The stream each legacy application reads its document from ([MS-DOC], [MS-XLS], [MS-PPT]).
_OLE_MAIN = {"application/msword": ("WordDocument",),
             "application/vnd.ms-excel": ("Workbook", "Book"),
             "application/vnd.ms-powerpoint": ("PowerPoint Document",)}
_MACRO_TYPES = re.compile(rb"macroEnabled|vbaProject|ms-office\.activeX", re.IGNORECASE)
# What zipfile raises on a damaged archive, from its directory to an entry's data.
_BROKEN = (zipfile.BadZipFile, zlib.error, struct.error, ValueError, EOFError,
           NotImplementedError, OSError)
_TAG = re.compile(rb"<[^>]*>")
_MACROS = "it contains macros, which can run programs on the recipient's computer"
ADDRESS = "it shows your own email address; the other party answers you through the relay"


def check_package(data: bytes, delivered: str, scrubber: Scrubber) -> None:
    """A .docx/.xlsx/.pptx: the right package, no active parts, no sender's address."""
    archive = _open(data)
    names = archive.namelist()
    if "[Content_Types].xml" not in names or _MAIN[delivered] not in names:
        raise Disallowed("its content is a ZIP archive, not an Office document")
    if any(_ACTIVE.search(name) for name in names):
        raise Disallowed(_MACROS)
    if any(info.flag_bits & 0x1 for info in archive.infolist()):
        raise Disallowed("it is encrypted, so it cannot be checked")
    if _MACRO_TYPES.search(_read(archive, "[Content_Types].xml", 1 << 20)):
        raise Disallowed(_MACROS)
    budget = TEXT_BUDGET
    for info in archive.infolist():
        if budget <= 0:
            break  # see the README: a longer document is checked only this far
        if info.filename.lower().endswith((".xml", ".rels")):
            xml = _read(archive, info.filename, budget)
            budget -= len(xml)
            text = _TAG.sub(b"", xml).decode("utf-8", "replace")
            if scrubber.leaks(xml) or scrubber.found(text):  # attributes, then runs joined
                raise Disallowed(ADDRESS)


def _open(data: bytes) -> zipfile.ZipFile:
    """The archive from its central directory, refused before reading one past MAX_ENTRIES."""
    tail = data[-(65_535 + _END.size):]
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _END.size:
        raise Disallowed("it is not a readable Office document")
    entries = _END.unpack_from(tail, at)[4]
    if entries == 0xFFFF or entries > MAX_ENTRIES:  # 0xFFFF: a ZIP64 count, larger still
        raise Disallowed("it holds too many parts to be checked")
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except _BROKEN as exc:
        raise Disallowed("it is not a readable Office document") from exc


def _read(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """At most `limit` inflated bytes of one entry: its declared size is not trusted."""
    try:
        with archive.open(name) as entry:
            return entry.read(limit)
    except _BROKEN as exc:
        raise Disallowed("it is not a readable Office document") from exc


def check_ole(data: bytes, delivered: str, scrubber: Scrubber) -> None:
    """A .doc/.xls/.ppt: its own main stream, no VBA project or Excel 4 macro (oletools),
    no sender's address."""
    with warnings.catch_warnings():  # oletools uses pyparsing names it has deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        from oletools import olevba

    try:
        parser = olevba.VBA_Parser("attachment", data=data)
        try:
            macros = parser.detect_vba_macros() or parser.detect_xlm_macros()
            streams = _streams(parser.ole_file)
            main = _OLE_MAIN.get(delivered, ())
            present = bool(main) and any(parser.ole_file.exists(name) for name in main)
        finally:
            parser.close()
    except Exception as exc:  # oletools raises its own and stdlib errors on damaged files
        raise Disallowed("it is not a readable Office document") from exc
    if macros:
        raise Disallowed(_MACROS)
    if not present:
        raise Disallowed("its content is not the Office document its name says")
    for stream in streams:
        wide = (stream[start:].decode("utf-16-le", "replace").encode() for start in (0, 1))
        if scrubber.leaks(stream) or any(map(scrubber.leaks, wide)):
            raise Disallowed(ADDRESS)


def _streams(ole: object) -> list[bytes]:
    """Every stream of the compound file: Word keeps text in 8-bit or UTF-16 pieces."""
    if ole is None:
        return []
    found = []
    for path in ole.listdir(streams=True, storages=False):  # type: ignore[attr-defined]
        found.append(bytes(ole.openstream(path).read()))  # type: ignore[attr-defined]
    return found
