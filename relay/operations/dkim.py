"""`relay dkim keygen`: a new DKIM key on disk, readable by relay's user only, and its record."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from pathlib import Path

from relay.config import Settings
from relay.config.load import SELECTOR
from relay.errors import Conflict, Invalid
from relay.model import DkimRecord


async def keygen(settings: Settings, selector: str, output: Path | None = None,
                 force: bool = False) -> DkimRecord:
    """Write an RSA 2048 key to `output` (default dkim.private_key_file), mode 0600 from
    its creation; an existing file is kept unless `force`. The record to publish is
    returned, for the relay domain (dkim.domain, else aliases.domain)."""
    from relay import dkim_keys  # cryptography only for the commands that need it

    if not SELECTOR.fullmatch(selector):
        raise Invalid(f"{selector!r} is not a DKIM selector (DNS labels, such as \"relay2026\")")
    path = output or settings.dkim.private_key_file
    if path is None:
        raise Invalid("no file to write the key to: pass --output PATH or set "
                      "dkim.private_key_file")
    if path.exists() and not force:
        raise Conflict(f"{path} already exists: relay does not replace a key that may be "
                       "published (pass --force to replace it)")
    key = await asyncio.to_thread(dkim_keys.new_key)
    try:
        await asyncio.to_thread(_write_private, path, dkim_keys.private_pem(key), force)
    except FileExistsError:
        raise Conflict(f"{path} already exists: relay does not replace a key that may be "
                       "published (pass --force to replace it)") from None
    except OSError as exc:
        raise Invalid(f"cannot write {path} ({exc.strerror or exc})") from None
    domain = settings.dkim.domain or settings.aliases.domain
    return DkimRecord(selector=selector, domain=domain,
                      name=dkim_keys.record_name(selector, domain),
                      txt=dkim_keys.txt_value(key), private_key_file=str(path))


def _write_private(path: Path, pem: bytes, force: bool) -> None:
    """Created 0600 (never chmod-ed later: no moment when others could read it), written
    under a temporary name, then put in place whole: renamed over the old key with
    `force`, else linked, which fails if a file appeared there meanwhile."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        if force:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
