"""The hostile corpus: each tests/corpus/NAME.eml sent over SMTP, its outcome checked.

Each case is a message as a party's mail client would send it, with NAME.toml beside it
saying what must happen (tests/corpus/README.md describes both). The relay is real, on
SQLite, delivering to the real upstream sink.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DOMAIN
from tests.smtp.conftest import BUYER, SELLER, SELLER_STAFF, Client, World, WorldFactory
from tests.unit.content.messages import visible

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
ROUTES = ("seller-to-buyer", "buyer-to-seller")
OUTCOMES = ("refused", "deferred", "delivered")
KEYS = frozenset({
    "description", "route", "expect", "code", "enhanced", "text_contains", "absent",
    "present", "settings", "xfail", "sender",
})


def placeholders(world: World | None) -> dict[str, str]:
    """What `{name}` stands for in a case; the aliases exist only once a relay runs."""
    values = {
        "seller": SELLER, "seller_address": SELLER, "seller_staff": SELLER_STAFF,
        "seller_domain": SELLER.partition("@")[2], "buyer": BUYER, "relay_domain": DOMAIN,
    }
    if world is not None:
        values["buyer_alias"] = world.aliases.buyer_alias
        values["seller_alias"] = world.aliases.seller_alias
    return values


def fill(text: str, values: dict[str, str]) -> str:
    """Replace each known `{name}`; other braces (CSS, JSON) are left alone."""
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return text


@dataclass(frozen=True)
class Case:
    name: str
    eml: Path
    route: str
    expect: str
    description: str = ""
    code: int | None = None
    enhanced: str | None = None
    text_contains: str | None = None
    absent: tuple[str, ...] = ()
    present: tuple[str, ...] = ()
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    xfail: str | None = None
    sender: str | None = None


def load(toml: Path) -> Case:
    """A case from its TOML, refusing anything that would make it check less than it says."""
    data = tomllib.loads(toml.read_text(encoding="utf-8"))
    unknown = set(data) - KEYS
    if unknown:
        raise ValueError(f"{toml.name}: unknown keys {sorted(unknown)}")
    if data.get("route") not in ROUTES:
        raise ValueError(f"{toml.name}: route must be one of {ROUTES}")
    if data.get("expect") not in OUTCOMES:
        raise ValueError(f"{toml.name}: expect must be one of {OUTCOMES}")
    code = data.get("code")
    low, high = {"refused": (500, 600), "deferred": (400, 500), "delivered": (250, 251)}[
        data["expect"]]
    if code is not None and not low <= code < high:
        raise ValueError(f"{toml.name}: code {code} does not match expect = {data['expect']}")
    if data["expect"] != "delivered" and ("absent" in data or "present" in data):
        raise ValueError(f"{toml.name}: absent/present only apply to delivered mail")
    if data["expect"] == "delivered" and ("enhanced" in data or "text_contains" in data):
        raise ValueError(f"{toml.name}: enhanced/text_contains only apply to refusals")
    settings = data.get("settings", {})
    if not all(isinstance(v, dict) for v in settings.values()):
        raise ValueError(f"{toml.name}: [settings] holds sections such as [settings.content]")
    name = toml.relative_to(CORPUS).with_suffix("").as_posix()
    return Case(
        name=name, eml=toml.with_suffix(".eml"), route=data["route"], expect=data["expect"],
        description=data.get("description", ""), code=code, enhanced=data.get("enhanced"),
        text_contains=data.get("text_contains"), absent=tuple(data.get("absent", ())),
        present=tuple(data.get("present", ())), settings=settings, xfail=data.get("xfail"),
        sender=data.get("sender"),
    )


def cases() -> list[Any]:
    """One parameter per case; a strict xfail where its rule has not landed yet."""
    params: list[Any] = []
    for toml in sorted(CORPUS.rglob("*.toml")):
        case = load(toml)
        marks = [pytest.mark.xfail(reason=case.xfail, strict=True)] if case.xfail else []
        params.append(pytest.param(case, id=case.name, marks=marks))
    return params


def test_every_message_has_its_expectation() -> None:
    """An .eml without its .toml would never be sent: a case silently lost."""
    orphans = [p.name for p in CORPUS.rglob("*.eml") if not p.with_suffix(".toml").exists()]
    orphans += [p.name for p in CORPUS.rglob("*.toml") if not p.with_suffix(".eml").exists()]
    assert not orphans
    assert len(cases()) >= 1


def decoded(message: EmailMessage) -> list[str]:
    """What a recipient's client can show or save: `visible`, plus every leaf part decoded."""
    texts = list(visible(message))
    for part in message.walk():
        if not part.is_multipart():
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                texts.append(data.decode("latin-1"))
    return texts


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("case", cases())
async def test_corpus(make_world: WorldFactory, case: Case) -> None:
    world = await make_world(**case.settings)
    values = placeholders(world)
    seller_writes = case.route == "seller-to-buyer"
    sender = fill(case.sender, values) if case.sender else (SELLER if seller_writes else BUYER)
    alias = world.aliases.buyer_alias if seller_writes else world.aliases.seller_alias
    raw = case.eml.read_bytes()
    for name, value in values.items():
        raw = raw.replace(b"{" + name.encode() + b"}", value.encode())

    async with Client(world.port) as client:
        answer = await client.send(sender, alias, raw)

    if case.code is not None:
        assert answer.code == case.code, answer
    if case.enhanced is not None:
        assert answer.text.startswith(case.enhanced), answer
    if case.text_contains is not None:
        assert fill(case.text_contains, values).lower() in answer.text.lower(), answer
    if case.expect == "refused":
        assert 500 <= answer.code < 600, answer
        return
    if case.expect == "deferred":
        assert 400 <= answer.code < 500, answer
        return
    assert answer.code == 250, answer
    delivered = (await world.upstream.handler.wait_for(1))[0]
    assert delivered.rcpt_tos == [BUYER if seller_writes else SELLER]
    message = BytesParser(policy=policy.default).parsebytes(delivered.data)
    assert isinstance(message, EmailMessage)
    haystacks = [delivered.data.decode("latin-1").lower(), *(t.lower() for t in decoded(message))]
    # SPEC §2.4 for every delivered case: no real address of the sending side.
    own = (SELLER, SELLER_STAFF) if seller_writes else (BUYER,)
    for needle in (*own, *(fill(s, values) for s in case.absent)):
        found = [h for h in haystacks if needle.lower() in h]
        assert not found, f"{needle!r} reached the recipient in {found[0][:300]!r}"
    for needle in (fill(s, values) for s in case.present):
        assert any(needle.lower() in h for h in haystacks), f"{needle!r} was not delivered"
