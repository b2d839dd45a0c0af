"""What one SMTP session may send before it is cut off, with Postfix's defaults as the yardstick.

Each budget is renewed by an accepted message, as Postfix renews its error and
junk counters: a sender delivering a long batch over one connection never meets
them, a client probing or stalling does.
"""

from __future__ import annotations

import re

# Postfix's smtpd_hard_error_limit: replies of 4xx/5xx before the 421. Twenty lets a
# sender whose mail is refused for a reason (quota, unknown alias) go on trying the
# rest of a batch, and stops a client guessing aliases after twenty misses.
MAX_ERRORS = 20
# Postfix's smtpd_junk_command_limit counts NOOP, VRFY, ETRN and RSET; here every
# command that moves no mail counts. A real client sends two (EHLO, maybe RSET)
# per message; a hundred is a client keeping a connection open for nothing.
MAX_JUNK = 100
JUNK = frozenset({"NOOP", "RSET", "VRFY", "EXPN", "HELP", "HELO", "EHLO"})
# Any command: a message takes MAIL, RCPT and DATA. A thousand is Postfix's
# smtpd_recipient_limit: more commands than that without a message accepted is a
# client repeating RCPT or MAIL to keep a session (and a store lookup each time) going.
MAX_COMMANDS = 1000

# RFC 5321 §4.5.3.1: local part 64 octets, domain 255, path 256 with its "<" and ">".
MAX_LOCAL_PART = 64
MAX_DOMAIN = 255
MAX_PATH = 256

# C0 controls and DEL: an address can hold none of them, and a CR or NUL inside a
# command is how a client tries to make two programs read one line differently.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


def too_long(address: str) -> bool:
    """Whether `address` breaks one of RFC 5321's length limits (the null sender does not)."""
    local, _, domain = address.rpartition("@")
    return (
        len(address.encode("utf-8", "surrogateescape")) + 2 > MAX_PATH
        or len(local.encode("utf-8", "surrogateescape")) > MAX_LOCAL_PART
        or len(domain.encode("utf-8", "surrogateescape")) > MAX_DOMAIN
    )


# RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets with its CRLF.
MAX_REPLY_LINE = 512
_REPLY = re.compile(r"(\d{3})[ ](\d\.\d{1,3}\.\d{1,3}[ ])?(.*)", re.DOTALL)


def fold_reply(status: str) -> str:
    """`status` as lines of at most MAX_REPLY_LINE octets, joined by CRLF for one push.

    Some replies name what the sender sent (a signing domain, a file name), so their
    sentence can outgrow one line; clients may cut or refuse a longer one. Each line
    repeats the code and the enhanced code (RFC 2034 §3), and lines break between words.
    """
    if len(status.encode("utf-8")) + 2 <= MAX_REPLY_LINE or "\r\n" in status:
        return status
    match = _REPLY.fullmatch(status)
    if match is None:
        return status
    code, enhanced, text = match.group(1), match.group(2) or "", match.group(3)
    room = MAX_REPLY_LINE - 2 - len(code) - 1 - len(enhanced)
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        while len(word.encode("utf-8")) > room:  # longer than a line: cut it
            head, word = _cut(word, room - len(line.encode("utf-8")) - (1 if line else 0))
            if head:
                lines.append(f"{line} {head}" if line else head)
            elif line:
                lines.append(line)
            line = ""
        candidate = f"{line} {word}" if line else word
        if len(candidate.encode("utf-8")) > room:
            lines.append(line)
            candidate = word
        line = candidate
    lines.append(line)
    last = len(lines) - 1
    return "\r\n".join(f"{code}{' ' if i == last else '-'}{enhanced}{part}"
                       for i, part in enumerate(lines))


def _cut(word: str, octets: int) -> tuple[str, str]:
    """The longest head of `word` within `octets` octets, and the rest."""
    size = 0
    for index, char in enumerate(word):
        size += len(char.encode("utf-8"))
        if size > octets:
            return word[:index], word[index:]
    return word, ""
