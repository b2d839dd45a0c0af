"""Keys made once and kept in the store, so every instance signs and checks alike."""

from __future__ import annotations

import secrets

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from relay.store import tables as t


def get_or_make(session: Session, name: str, size: int = 32) -> bytes:
    row = session.get(t.Secret, name)
    if row is not None:
        return row.value
    try:
        with session.begin_nested():
            session.add(t.Secret(name=name, value=secrets.token_bytes(size)))
    except IntegrityError:
        pass  # another instance made it first: use theirs
    row = session.get(t.Secret, name, populate_existing=True)
    assert row is not None
    return row.value
