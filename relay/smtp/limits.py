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
