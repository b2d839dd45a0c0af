"""Content that carries contact details relay cannot rewrite, and content hidden inside text.

vCards, PGP keys and S/MIME or PGP signatures name their owner in a form that
is signed or structured (a key's user ID, a certificate's subject): they are
dropped with a note. A uuencoded block inside a text part is an attachment
some clients show as one: it is cut out with a note, as an undecodable part is.
"""

from __future__ import annotations

import re
from email.message import Message

_CARRIER_TYPES = frozenset({
    "text/vcard", "text/x-vcard", "text/directory", "application/vcard+json",
    "application/vcard+xml", "application/pgp-keys", "application/pgp-signature",
    "application/pkcs7-signature", "application/x-pkcs7-signature",
})
_CARRIER_EXTENSIONS = (".vcf", ".vcard", ".p7s", ".gpg", ".pgp")
_KEY_BLOCK = b"-----BEGIN PGP PUBLIC KEY BLOCK-----"
_VCARD = b"BEGIN:VCARD"

# `begin 644 name` (uuencode) or `begin-base64 644 name` up to its `end` / `====` line,
# or to the end of the text when the block is never closed.
_UUENCODED = re.compile(
    r"^begin(-base64)?[ \t]+[0-7]{1,4}[ \t]+(?P<name>[^\n]*)\n"
    r"(?:.*?^(?:end|====)[ \t]*$\n?|.*\Z)",
    re.M | re.S,
)
_KEY_TEXT = re.compile(
    r"-----BEGIN PGP PUBLIC KEY BLOCK-----.*?(?:-----END PGP PUBLIC KEY BLOCK-----|\Z)", re.S
)


def carries_contact(part: Message, name: str, data: bytes) -> bool:
    """Whether a leaf part is a vCard, a PGP key or a signature, by type, name or content.

    A text part that only quotes a key block keeps its text (cut_hidden takes the block).
    """
    if part.get_content_type() in _CARRIER_TYPES or name.lower().endswith(_CARRIER_EXTENSIONS):
        return True
    if data[:4096].lstrip().upper().startswith(_VCARD):
        return True
    return part.get_content_maintype() != "text" and _KEY_BLOCK in data


def cut_hidden(text: str) -> tuple[str, list[str], list[str]]:
    """`text` without uuencoded blocks and PGP key blocks, and the names of each kind cut."""
    encoded: list[str] = []
    keys: list[str] = []
    if "begin" in text:
        def cut_encoded(match: re.Match[str]) -> str:
            encoded.append(match["name"].strip())
            return ""

        text = _UUENCODED.sub(cut_encoded, text)
    if "-----BEGIN PGP PUBLIC KEY BLOCK-----" in text:
        def cut_key(match: re.Match[str]) -> str:
            keys.append("PGP key")
            return ""

        text = _KEY_TEXT.sub(cut_key, text)
    return text, encoded, keys


def unfold_calendar(text: str) -> str:
    """RFC 5545 §3.1: a line break followed by a space or tab continues the line."""
    return re.sub(r"\r?\n[ \t]", "", text)


def fold_calendar(text: str, width: int = 75) -> str:
    """Fold content lines longer than `width` octets, never inside a character."""
    out: list[str] = []
    for line in text.split("\n"):
        while len(line.encode("utf-8")) > width:
            cut = width
            while len(line[:cut].encode("utf-8")) > width:
                cut -= 1
            out.append(line[:cut])
            line = " " + line[cut:]
        out.append(line)
    return "\n".join(out)
