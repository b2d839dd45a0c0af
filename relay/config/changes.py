"""What a reload may change: the settings to apply now, and the keys that wait for a restart."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from relay.config.settings import Settings

# Bound when the process starts: the sockets, the store's engine, the aliases
# already handed out, and the size of the delivery pool.
NEEDS_RESTART = ("server.listen", "metrics.listen", "store", "aliases", "queue.workers")


@dataclass(frozen=True)
class Change:
    applied: Settings  # the new settings, with the keys in `needs_restart` kept as they were
    changed: tuple[str, ...]  # sections whose applied values differ: names only, never values
    needs_restart: tuple[str, ...]  # keys that changed in the file but apply only after a restart


def compare(old: Settings, new: Settings) -> Change:
    """Split a re-read file into what applies now and what must wait for a restart."""
    kept = dataclasses.replace(
        new,
        server=dataclasses.replace(new.server, listen=old.server.listen),
        store=old.store,
        aliases=old.aliases,
        queue=dataclasses.replace(new.queue, workers=old.queue.workers),
        metrics=dataclasses.replace(new.metrics, listen=old.metrics.listen),
    )
    needs_restart = tuple(key for key in NEEDS_RESTART if _get(old, key) != _get(new, key))
    changed = tuple(
        field.name for field in dataclasses.fields(Settings)
        if getattr(old, field.name) != getattr(kept, field.name)
    )
    return Change(kept, changed, needs_restart)


def _get(settings: Settings, key: str) -> object:
    value: object = settings
    for name in key.split("."):
        value = getattr(value, name)
    return value
