"""`relay dkim keygen`: parse, call relay.operations.dkim, print the record to publish."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from relay.cli.command import Commands, Output, command, group, nonempty

if TYPE_CHECKING:
    from relay.config import Settings


async def dkim_keygen(settings: Settings, args: argparse.Namespace) -> Output:
    from relay.dkim_keys import zone_line
    from relay.operations import dkim as ops

    output = Path(args.output) if args.output else None
    made = await ops.keygen(settings, args.selector, output, force=args.force)
    text = (f"; the private key is in {made.private_key_file} (mode 0600);"
            f" publish this record, then set dkim.selector = \"{made.selector}\"\n"
            + zone_line(made.name, made.txt))
    return Output(dataclasses.asdict(made), text=text)


def register(commands: Commands) -> None:
    dkim = group(commands, "dkim", "the key relay signs outgoing mail with")
    keygen = command(dkim, "keygen", dkim_keygen,
                     "make an RSA 2048 key and print the DNS TXT record to publish")
    keygen.add_argument("--selector", metavar="S", required=True, type=nonempty,
                        help="the selector: the record is S._domainkey.DOMAIN")
    keygen.add_argument("--output", metavar="PATH", default=None,
                        help="where to write the private key (default: dkim.private_key_file)")
    keygen.add_argument("--force", action="store_true",
                        help="replace an existing key file (mail signed with the old key "
                             "fails once its record is replaced)")
