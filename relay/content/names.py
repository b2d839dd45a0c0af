"""Clean decoded header text and file names before relay writes them again.

A decoded encoded word or RFC 2231 value can hold anything: CR/LF that would
start a new header, NUL, or bidi overrides that make `gpj.exe` read as `exe.jpg`.
"""

from __future__ import annotations

import re
import unicodedata

# RFC 5322 header text: control characters (CR, LF, NUL, ESC, DEL, C1) become spaces.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
# Bidi embeddings, overrides and isolates reorder what follows them on screen.
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")
MAX_NAME = 255  # what common file systems allow for one file name
FALLBACK_NAME = "attachment"


def clean_text(value: str) -> str:
    """Header text on one line: controls become spaces, bidi overrides go, spaces close up."""
    return " ".join(_BIDI.sub("", _CONTROLS.sub(" ", value)).split())


def clean_filename(value: str) -> str:
    """A file name a client can show and save safely.

    Only its last path component (`../../x` and `C:\\x` name `x`), without control
    or format characters (bidi marks, zero-width characters), at most 255 characters.
    """
    visible = "".join(
        c for c in value if unicodedata.category(c) not in ("Cc", "Cf", "Zl", "Zp")
    )
    name = re.split(r"[/\\]", visible)[-1].strip()
    if name in ("", ".", ".."):
        return FALLBACK_NAME
    return name[:MAX_NAME]
