"""Real files made at test time: PDFs, Office documents, image headers, executables.

Each is built the way its format's specification lays it out, small enough to
read: what the relay judges is the real structure, not a string that merely
starts like one.
"""

from __future__ import annotations

import io
import itertools
import struct
import zipfile
import zlib
from typing import Any

PNG = (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR"
       + struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0) + b"\x00\x00\x00\x00"
       + struct.pack(">I", 0) + b"IEND\xaeB`\x82")
JPEG = (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        + b"\x00" * 64 + b"\xff\xd9")
GIF = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff"
       b"!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00"
       b"\x02\x02D\x01\x00;")
SVG = (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1">'
       b"<script>alert(1)</script></svg>\n")
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
# A DOS stub and a PE header: what Windows runs, whatever the name says.
EXE = (b"MZ" + b"\x90\x00" * 29 + struct.pack("<I", 64) + b"PE\x00\x00"
       + struct.pack("<HH", 0x14C, 1) + b"\x00" * 200)


def pdf(text: str = "Your invoice", *, objects: tuple[bytes, ...] = (), catalog: bytes = b"",
        compress: bool = True) -> bytes:
    """A one-page PDF drawing `text`, with an xref table that points at every object."""
    content = b"BT /F1 12 Tf 72 720 Td (" + text.encode("latin-1") + b") Tj ET"
    stream = zlib.compress(content) if compress else content
    flate = b"/Filter /FlateDecode " if compress else b""
    body = [
        b"<< /Type /Catalog /Pages 2 0 R " + catalog + b">>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< " + flate + b"/Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream
        + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        *objects,
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, obj in enumerate(body, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + obj + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(body) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(body) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
              .encode())
    return out.getvalue()


def pdf_with_javascript() -> bytes:
    """Opening the document runs a script (ISO 32000-1 §12.6.4.16)."""
    return pdf(catalog=b"/OpenAction 6 0 R ",
               objects=(b"<< /Type /Action /S /JavaScript /JS (app.alert\\(1\\)) >>",))


def pdf_with_hidden_launch() -> bytes:
    """A launch action with an escaped name, inside a compressed object stream."""
    inner = b"6 0 << /Type /Action /S /L#61unch /F (cmd.exe) >>"
    packed = zlib.compress(inner)
    objstm = (b"<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length "
              + str(len(packed)).encode() + b" >>\nstream\n" + packed + b"\nendstream")
    return pdf(catalog=b"/OpenAction 6 0 R ", objects=(b"null", objstm))


def office(kind: str = "docx", text: str = "Thank you for your order", *,
           macros: bool = False) -> bytes:
    """An Office Open XML package; with `macros`, what Word saves as .docm."""
    main = {"docx": "word/document.xml", "xlsx": "xl/workbook.xml"}[kind]
    content_type = ("application/vnd.ms-word.document.macroEnabled.main+xml" if macros
                    else DOCX_TYPE + ".main+xml")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("[Content_Types].xml",
                         '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                         'package/2006/content-types"><Override PartName="/' + main
                         + f'" ContentType="{content_type}"/></Types>')
        package.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships/>')
        # Word splits text into runs: an address may be cut anywhere between tags.
        half = len(text) // 2
        package.writestr(main, '<?xml version="1.0"?><w:document><w:body><w:p>'
                         f"<w:r><w:t>{text[:half]}</w:t></w:r><w:r><w:rPr><w:b/></w:rPr>"
                         f"<w:t>{text[half:]}</w:t></w:r></w:p></w:body></w:document>")
        if macros:
            package.writestr("word/vbaProject.bin", ole({"VBA/dir": b"\x01"}))
    return out.getvalue()


def zip_archive() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("setup.exe", EXE)
    return out.getvalue()


def word97(text: str = "Thank you for your order", *, macros: bool = False) -> bytes:
    """A Word 97 compound file; with `macros`, the VBA project storages of MS-OVBA §2.2.1."""
    streams = {"WordDocument": text.encode("utf-16-le")}
    if macros:
        streams |= {"Macros/PROJECT": b'ID="{00000000-0000-0000-0000-000000000000}"\r\n',
                    "Macros/VBA/_VBA_PROJECT": b"\xcc\x61\xff\xff\x00\x00\x00",
                    "Macros/VBA/dir": b"\x01"}
    return ole(streams)


_FREE, _END, _FAT = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD
_STREAM_MIN = 4096  # MS-CFB §2.2: smaller streams would live in the mini stream


def ole(streams: dict[str, bytes]) -> bytes:
    """A version 3 compound file (MS-CFB) holding `streams`, paths split on "/".

    Every stream is padded to the mini-stream cutoff, so all live in regular sectors
    and the writer needs no mini FAT. Siblings hang off each other's right link:
    a valid, if unbalanced, binary tree.
    """
    tree: dict[str, Any] = {}
    for path, data in streams.items():
        node = tree
        *storages, name = path.split("/")
        for storage in storages:
            node = node.setdefault(storage, {})
        node[name] = data.ljust(_STREAM_MIN, b"\x00")
    sectors: list[bytes] = []
    entries: list[list[Any]] = []  # name, type, left, right, child, start, size

    def add(name: str, node: dict[str, Any] | bytes) -> int:
        index = len(entries)
        if isinstance(node, bytes):
            entries.append([name, 2, _FREE, _FREE, _FREE, len(sectors), len(node)])
            sectors.extend(node[i : i + 512].ljust(512, b"\x00")
                           for i in range(0, len(node), 512))
            return index
        entries.append([name, 1 if index else 5, _FREE, _FREE, _FREE, _END, 0])
        children = [add(child, node[child]) for child in
                    sorted(node, key=lambda n: (len(n), n.upper()))]
        for left, right in itertools.pairwise(children):
            entries[left][3] = right
        entries[index][4] = children[0] if children else _FREE
        return index

    add("Root Entry", tree)
    chains = [(e[5], -(-e[6] // 512)) for e in entries if e[1] == 2]
    directory_start = len(sectors)
    raw_entries = b"".join(_entry(*e) for e in entries)
    raw_entries += b"\x00" * (-len(raw_entries) % 512)
    directory_count = len(raw_entries) // 512
    sectors.extend(raw_entries[i : i + 512] for i in range(0, len(raw_entries), 512))
    chains.append((directory_start, directory_count))
    fat_count = -(-(len(sectors) + 1) // 128)
    fat_start = len(sectors)
    fat = [_FREE] * (fat_count * 128)
    for start, count in chains:
        for i in range(count):
            fat[start + i] = start + i + 1 if i < count - 1 else _END
    for i in range(fat_count):
        fat[fat_start + i] = _FAT
    difat = [fat_start + i for i in range(fat_count)] + [_FREE] * (109 - fat_count)
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"\x00" * 16, 0x3E, 3,
        0xFFFE, 9, 6, b"\x00" * 6, 0, fat_count, directory_start, 0, _STREAM_MIN, _END, 0,
        _END, 0,
    ) + struct.pack("<109I", *difat)
    return header + b"".join(sectors) + struct.pack(f"<{len(fat)}I", *fat)


def _entry(
    name: str, kind: int, left: int, right: int, child: int, start: int, size: int
) -> bytes:
    encoded = (name + "\x00").encode("utf-16-le")
    return struct.pack("<64sHBBIII16sIQQIQ", encoded, len(encoded), kind, 1, left, right, child,
                       b"\x00" * 16, 0, 0, 0, start,
                       size)
