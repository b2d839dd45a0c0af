"""Rebuild a message part by part: everything the recipient gets is written by relay.

Nothing of the sender's MIME is passed through: each part's headers are written
from their decoded values (cleaned and scrubbed), text is decoded, scrubbed and
encoded again as UTF-8, other content is decoded and encoded again in base64,
boundaries and Content-IDs are new and random. Where readers could disagree
about the sender's bytes, they now read relay's.

A leaf part that cannot be decoded with certainty, and a part that carries
contact details relay cannot rewrite (a vCard, a PGP key, a signature), is
replaced by a short text note naming it; structure that cannot be read is
refused whole (relay.content.structure).
"""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Callable, Sequence
from email import policy as email_policy
from email.message import EmailMessage, Message
from email.policy import Policy
from typing import Any
from urllib.parse import unquote

from relay.content.carriers import (
    carries_contact,
    cut_hidden,
    fold_calendar,
    unfold_calendar,
)
from relay.content.names import clean_filename, clean_text
from relay.content.scrub import Scrubber
from relay.content.structure import Budget, check_part, encoding
from relay.content.transfer import Undecodable, base64_lines, content, encode_text
from relay.message import decode_words, parse
from relay.replies import S554_BAD_BOUNDARY, Refused

TextHook = Callable[[str, str], str]
"""Called with (content type, text) for each text part after scrubbing; returns the text to send.

Hooks may raise Refused to refuse the message (a link rule, say)."""

Headers = list[tuple[str, Any]]

NOTE_CONTACT = "An attachment that could reveal contact details was removed: {name}"
NOTE_UNREADABLE = "A part that could not be read was removed ({why}): {name}"

_IDENTITY = frozenset({"7bit", "8bit", "binary"})
_FORWARDED_MESSAGES = frozenset({"rfc822", "global"})
# Parameters a multipart keeps (RFC 2387 related, RFC 6522 report).
_MULTIPART_PARAMS = ("type", "report-type")
_TEXT_PARAMS = {"text/plain": ("format", "delsp"), "text/calendar": ("method", "component")}
# A parameter relay passes on is a MIME token or type (RFC 2045 §5.1): it names nothing.
_TOKEN = re.compile(r"[A-Za-z0-9!#$&^_.+-]{1,64}(?:/[A-Za-z0-9!#$&^_.+-]{1,64})?")
_LANGUAGE = re.compile(r"[A-Za-z0-9]{1,8}(?:-[A-Za-z0-9]{1,8})*(?:\s*,\s*[A-Za-z0-9-]{1,35})*")
_CID_URL = re.compile(r"\bcid:([^\s\"'<>()\\]+)", re.I)
# C0 controls other than tab, LF, FF and CR, and DEL: no client shows them; NUL must not pass.
_TEXT_CONTROLS = dict.fromkeys([*range(0x00, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F])
_ADDRESS_HEADERS = frozenset({"from", "to", "cc"})
_NAMES = {"from": "From", "to": "To", "cc": "Cc", "date": "Date", "subject": "Subject"}


class Written(EmailMessage):
    """A part relay wrote; a leaf's body is `encoded`, CRLF lines, written as it is.

    The stdlib would hold it as text and pass over it three times to write it;
    relay.content.rewrite's generator writes these bytes once.
    """

    encoded: bytes = b""


class Rebuilder:
    """Builds the recipient's copy of one message; Content-IDs are shared across its parts."""

    def __init__(self, scrubber: Scrubber, domain: str, hooks: Sequence[TextHook] = (),
                 message_policy: Policy = email_policy.default) -> None:
        self._scrubber = scrubber
        self._domain = domain
        self._hooks = hooks
        self._policy = message_policy
        self._cids: dict[str, str] = {}
        self._budget = Budget()

    def part(self, src: Message, prefix: Headers, depth: int = 0,
             boundaries: tuple[str, ...] = ()) -> Written:
        """The rebuilt part: `prefix` headers first, then the Content-* relay writes."""
        self._budget.enter(depth)
        check_part(src, boundaries)
        maintype = src.get_content_maintype()
        if maintype == "multipart":
            if not src.is_multipart():
                raise Refused(S554_BAD_BOUNDARY)
            return self._multipart(src, prefix, depth, boundaries)
        if maintype == "message":
            return self._attached(src, prefix, depth, boundaries)
        return self._leaf(src, prefix)

    def kept(self, src: Message, names: Sequence[str]) -> Headers:
        """The non-content headers in `names` src has, decoded, cleaned and scrubbed."""
        out: Headers = []
        for name in names:
            if name not in src:
                continue
            if name == "date":
                when = getattr(_header(src, name), "datetime", None)
                if when is not None:
                    out.append(("Date", when))
                continue
            value = self._scrubber.scrub(clean_text(_decoded_header(src, name)))
            if value and (name not in _ADDRESS_HEADERS or "@" in value):
                out.append((_NAMES[name], value))
        return out

    def _new(self, prefix: Headers) -> Written:
        out = Written(policy=self._policy)
        for name, value in prefix:
            out[name] = value
        return out

    def _multipart(self, src: Message, prefix: Headers, depth: int,
                   boundaries: tuple[str, ...]) -> Written:
        inside = (*boundaries, src.get_boundary() or "")
        children = [self.part(child, [], depth + 1, inside)
                    for child in src.get_payload() if isinstance(child, Message)]
        out = self._new(prefix)
        ctype = src.get_content_type()
        if ctype == "multipart/signed":  # its signature is removed: what is left is mixed
            ctype = "multipart/mixed"
        params = {name: value for name in _MULTIPART_PARAMS
                  if isinstance(value := src.get_param(name), str) and _TOKEN.fullmatch(value)}
        start = src.get_param("start")
        if isinstance(start, str):
            params["start"] = f"<{self._cid(start)}>"
        out.add_header("Content-Type", ctype, boundary=secrets.token_hex(16), **params)
        self._describe(src, out)
        for child in children:
            out.attach(child)
        return out

    def _attached(self, src: Message, prefix: Headers, depth: int,
                  boundaries: tuple[str, ...]) -> Written:
        """A forwarded message is rebuilt like the message itself; other message/* removed."""
        label = self._label(src)
        if src.get_content_subtype() not in _FORWARDED_MESSAGES:
            return self._note(prefix, NOTE_UNREADABLE.format(
                why="relay does not pass on this kind of message part", name=label))
        try:
            inner = _inner_message(src)
        except Undecodable as exc:
            return self._note(prefix, NOTE_UNREADABLE.format(why=exc, name=label))
        rebuilt = self.part(inner, [*self.kept(inner, ("from", "to", "cc", "date", "subject")),
                                    ("MIME-Version", "1.0")], depth + 1, boundaries)
        out = self._new(prefix)
        out["Content-Type"] = "message/rfc822"
        self._describe(src, out)
        out.attach(rebuilt)
        return out

    def _leaf(self, src: Message, prefix: Headers) -> Written:
        name = self._filename(src)
        label = name or src.get_content_type()
        try:
            data = content(src)
        except Undecodable as exc:
            return self._note(prefix, NOTE_UNREADABLE.format(why=exc, name=label))
        if carries_contact(src, name or "", data):
            return self._note(prefix, NOTE_CONTACT.format(name=label))
        out = self._new(prefix)
        ctype = src.get_content_type()
        if src.get_content_maintype() == "text":
            text = self._text(ctype, _text_of(data, src.get_content_charset(), self._scrubber))
            cte, payload = encode_text(text)
            params = {p: v for p in _TEXT_PARAMS.get(ctype, ())
                      if isinstance(v := src.get_param(p), str) and _TOKEN.fullmatch(v)}
            out.add_header("Content-Type", ctype, charset="utf-8", **params,
                           **({"name": name} if name else {}))
        else:
            cte, payload = "base64", base64_lines(data)
            out.add_header("Content-Type", ctype, **({"name": name} if name else {}))
        out["Content-Transfer-Encoding"] = cte
        self._describe(src, out, name)
        out.encoded = payload
        return out

    def _text(self, ctype: str, text: str) -> str:
        """Controls out, hidden attachments cut, Content-IDs moved, addresses scrubbed, hooks."""
        text = text.replace("\r\n", "\n").replace("\r", "\n").translate(_TEXT_CONTROLS)
        text, encoded, keys = cut_hidden(text)
        calendar = ctype == "text/calendar"
        if calendar:
            text = unfold_calendar(text)
        if ctype == "text/html" and "cid:" in text.lower():
            text = _CID_URL.sub(lambda match: "cid:" + self._cid(match[1]), text)
        text = self._scrubber.scrub(text)
        for hook in self._hooks:
            text = hook(ctype, text)
        if calendar:
            text = fold_calendar(text)
        notes = [NOTE_UNREADABLE.format(why="uuencoded content is not passed on",
                                        name=self._clean_name(n)) for n in encoded]
        notes += [NOTE_CONTACT.format(name=n) for n in keys]
        if notes and not calendar:
            if ctype == "text/html":
                text += "".join(f"\n<p>{html.escape(n)}</p>" for n in notes)
            else:
                text += "".join(f"\n\n[{n}]" for n in notes) + "\n"
        return text

    def _note(self, prefix: Headers, text: str) -> Written:
        """A text part in place of one relay removed, saying what it was."""
        out = self._new(prefix)
        out.add_header("Content-Type", "text/plain", charset="utf-8")
        out["Content-Disposition"] = "inline"
        cte, payload = encode_text(self._scrubber.scrub(text) + "\n")
        out["Content-Transfer-Encoding"] = cte
        out.encoded = payload
        return out

    def _describe(self, src: Message, out: EmailMessage, name: str | None = None) -> None:
        """Content-Disposition, -ID, -Description and -Language, written again; the rest goes."""
        disposition = src.get_content_disposition()
        if disposition is not None or name:
            kind = "inline" if disposition == "inline" else "attachment"
            out.add_header("Content-Disposition", kind, **({"filename": name} if name else {}))
        if "Content-ID" in src:
            out["Content-ID"] = f"<{self._cid(_decoded_header(src, 'content-id'))}>"
        if "Content-Description" in src:
            description = self._scrubber.scrub(
                clean_text(_decoded_header(src, "content-description")))
            if description:
                out["Content-Description"] = description
        language = clean_text(_decoded_header(src, "content-language"))
        if language and _LANGUAGE.fullmatch(language):
            out["Content-Language"] = language

    def _filename(self, src: Message) -> str | None:
        """The part's file name as a client would show it, cleaned and scrubbed; None if none."""
        try:
            raw = src.get_filename()
        except (ValueError, LookupError, TypeError):
            raw = None
        if raw is None:
            return None
        return self._clean_name(raw)

    def _clean_name(self, raw: str) -> str:
        if "=?" in raw:
            raw = decode_words(raw) or raw
        return clean_filename(self._scrubber.scrub(clean_filename(raw)))

    def _label(self, src: Message) -> str:
        return self._filename(src) or src.get_content_type()

    def _cid(self, old: str) -> str:
        """The relay's Content-ID for a sender's (same one for each spelling of it)."""
        key = unquote(old).strip().strip("<>").strip().lower()
        new = self._cids.get(key)
        if new is None:
            new = self._cids[key] = f"{secrets.token_hex(12)}@{self._domain}"
        return new


def _header(src: Message, name: str) -> Any:
    try:
        return src[name]
    except (ValueError, IndexError, TypeError, LookupError):
        return None


def _decoded_header(src: Message, name: str) -> str:
    """A header as a lenient client shows it: 8-bit bytes as UTF-8, every encoded word decoded."""
    raw = next((str(v) for k, v in src.raw_items() if k.lower() == name), None)
    if raw is None:
        return ""
    if any("\udc80" <= c <= "\udcff" for c in raw):
        raw = raw.encode("ascii", "surrogateescape").decode("utf-8", "replace")
    legacy = decode_words(raw)
    if legacy is not None:
        return legacy
    value = _header(src, name)
    return raw if value is None else str(value)


def _text_of(data: bytes, charset: str | None, scrubber: Scrubber) -> str:
    """Decode as declared, or as UTF-8 (a superset of the RFC 2045 default us-ascii).

    When the declared charset hides an ASCII address that other readers would
    show (ASCII declared as UTF-16, say), the text is read as UTF-8 instead.
    """
    if charset in (None, "us-ascii", "ascii"):
        charset = "utf-8"
    try:
        text = data.decode(charset, "replace")
    except (LookupError, UnicodeError):
        text = data.decode("utf-8", "replace")
    if scrubber.leaks(data) and not scrubber.found(text):
        text = data.decode("utf-8", "replace")
    return text


def _inner_message(src: Message) -> Message:
    """The message a message/rfc822 part holds, decoding a base64 or quoted-printable one."""
    payload = src.get_payload()
    cte = encoding(src)
    if cte in _IDENTITY:
        if isinstance(payload, list) and len(payload) == 1 and isinstance(payload[0], Message):
            return payload[0]
        if isinstance(payload, str) and payload.strip():  # message/global: not parsed for us
            return parse(payload.encode("utf-8", "surrogateescape"))
        raise Undecodable("the attached message is empty or damaged")
    if cte not in ("base64", "quoted-printable"):
        raise Undecodable("its transfer encoding is unknown")
    # The parser read the encoded text as a message of no headers: take it back.
    text: object = payload
    if isinstance(payload, list) and len(payload) == 1:
        only = payload[0]
        if isinstance(only, Message) and not only.keys():
            text = only.get_payload()
    if not isinstance(text, str):
        raise Undecodable("the attached message is damaged")
    holder = Message()
    holder["Content-Transfer-Encoding"] = cte
    holder.set_payload(text)
    return parse(content(holder))
