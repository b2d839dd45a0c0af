"""`relay send`: a template through the CLI, into the intake a running relay delivers from."""

from __future__ import annotations

import json
import tomllib
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest

from relay import replies
from relay.operations import Context
from relay.operations.send import send_template
from relay.templates import BUILTIN
from tests.smtp.cli import cli_config, run_relay
from tests.smtp.conftest import BUYER, World, WorldFactory
from tests.unit.cli.runner import one_line_error

SHIPPED = Path(__file__).parents[2] / "config"
REASONS = {"delivery-scheduling": ["unshipped", "shipped"],
           "shipping-confirmation": ["shipped"], "feedback-request": ["delivered"]}
SHIPPING_VARS = ("--var", "carrier=DHL", "--var", "tracking_number=JJD000390007")


pytestmark = pytest.mark.usefixtures("quiet_relay_logs")


def _config(tmp_path: Path, world: World, *, templates: Path = SHIPPED / "templates",
            extra: str = "") -> Path:
    """A relay.toml for the CLI on the world's store, with the reasons above."""
    settings = world.relay.settings
    reasons = "\n".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in REASONS.items())
    return cli_config(tmp_path, world,
                      f"[server]\nhostname = {json.dumps(settings.server.hostname)}\n"
                      f"[templates]\ndir = {json.dumps(str(templates))}\n"
                      "default_language = \"en\"\n"
                      "[content]\nlink_domains = [\"marketplace.example\"]\n"
                      f"[contact_reasons]\n{reasons}\n{extra}")



def _parsed(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=default)
    assert isinstance(message, EmailMessage)
    return message


async def _received(world: World, message_id: str) -> EmailMessage:
    return _parsed((await world.relay.store.messages.archived(message_id))["received"])


class TestSend:
    async def test_buyer_language_delivered_by_the_runningrun_relay(
        self, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Queued by the CLI, with no wake-up: the relay's workers find it and deliver it."""
        await world.relay.store.directory.put_buyer("b1", BUYER, "Bob Buyer", "de")
        await world.relay.store.directory.set_order_status("o1", "shipped")
        result = await run_relay(capsys, _config(tmp_path, world), "send", "--seller", "s1",
                                 "--order", "o1", "--template", "shipping-confirmation",
                                 *SHIPPING_VARS, "--json")
        assert (result.status, result.err) == (0, "")
        sent = json.loads(result.out)
        assert sent["status"] == "queued"
        (delivered,) = await world.upstream.handler.wait_for(1, seconds=15)
        assert delivered.rcpt_tos == [BUYER]
        message = _parsed(delivered.data)
        assert message["Subject"] == "Ihre Bestellung o1 wurde versandt"
        assert "X-Contact-Reason" not in message
        assert world.aliases.seller_alias in message["From"]
        text = message.get_body(("plain",))
        assert text is not None
        assert "Hallo Bob Buyer" in text.get_content()
        assert "JJD000390007" in text.get_content()
        assert "Acme Shop" in text.get_content()
        assert (await _received(world, sent["message"]))["X-Contact-Reason"] == (
            "shipping-confirmation")

    async def test_fallback_to_the_default_language(
        self, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        await world.relay.store.directory.put_buyer("b1", BUYER, "Bob Buyer", "it")
        result = await run_relay(capsys, _config(tmp_path, world), "send", "--seller", "s1",
                                 "--order", "o1", "--template", "delivery-scheduling",
                                 "--var", "proposed_date=Friday 4 December", "--json")
        assert result.status == 0, result
        received = await _received(world, json.loads(result.out)["message"])
        assert received["Subject"] == "Delivery of your order o1"

    async def test_refused_for_an_order_status_the_reason_is_not_allowed_in(
        self, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A feedback request on an order not yet delivered: exit 3, one line, nothing queued."""
        result = await run_relay(capsys, _config(tmp_path, world), "send", "--seller", "s1",
                                 "--order", "o1", "--template", "feedback-request", "--json")
        line = one_line_error(result, 3)
        assert "'feedback-request' is not allowed while order o1 is unshipped" in line
        assert await world.relay.store.queue.items() == []

    async def test_a_missing_placeholder_names_the_file(
        self, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        await world.relay.store.directory.set_order_status("o1", "shipped")
        result = await run_relay(capsys, _config(tmp_path, world), "send", "--seller", "s1",
                                 "--order", "o1", "--template", "shipping-confirmation",
                                 "--var", "carrier=DHL")
        line = one_line_error(result, 2)
        assert "shipping-confirmation.en.toml" in line
        assert "{tracking_number}" in line
        assert await world.relay.store.queue.items() == []

    @pytest.mark.parametrize(("body", "complaint"), [
        ("Hello {buyer_name", "expected '}'"),
        ("Hello {buyer.name}", "{buyer.name} is not a placeholder"),
        ("Hello {0}", "{0} is not a placeholder"),
        ("Hello {buyer_name[0]}", "is not a placeholder"),
    ])
    async def test_a_template_that_does_not_parse_names_the_file(
        self, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str,
        complaint: str,
    ) -> None:
        """In check-config and at send time alike."""
        directory = tmp_path / "templates"
        directory.mkdir()
        broken = directory / "delivery-scheduling.en.toml"
        broken.write_text(f'reason = "delivery-scheduling"\nsubject = "Hi"\n'
                          f'body = {json.dumps(body)}\n', encoding="utf-8")
        config = _config(tmp_path, world, templates=directory)
        for args in (("check-config",), ("send", "--seller", "s1", "--order", "o1",
                                         "--template", "delivery-scheduling")):
            line = one_line_error(await run_relay(capsys, config, *args), 2)
            assert str(broken) in line
            assert complaint in line

    async def test_check_config_refuses_an_unknown_key(
        self, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        directory = tmp_path / "templates"
        directory.mkdir()
        (directory / "hello.en.toml").write_text(
            'reason = "x"\nsubject = "Hi"\nbody = "Hello"\nfooter = "Bye"\n', encoding="utf-8")
        config = _config(tmp_path, world, templates=directory)
        line = one_line_error(await run_relay(capsys, config, "check-config"), 2)
        assert "hello.en.toml" in line
        assert "unknown key 'footer'" in line

    async def test_an_opted_out_buyer_gets_a_critical_reason(
        self, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        await world.relay.store.directory.set_opt_out("b1", True)
        result = await run_relay(capsys, _config(tmp_path, world), "send", "--seller", "s1",
                                 "--order", "o1", "--template", "delivery-scheduling",
                                 "--var", "proposed_date=Friday", "--json")
        assert result.status == 0, result
        (delivered,) = await world.upstream.handler.wait_for(1, seconds=15)
        assert _parsed(delivered.data)["Subject"] == "Delivery of your order o1"

    async def test_an_opted_out_buyer_refuses_another_reason(
        self, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Refused by the pipeline's opt-out step: its SMTP reply, as one line, exit 3."""
        await world.relay.store.directory.set_opt_out("b1", True)
        await world.relay.store.directory.set_order_status("o1", "shipped")
        result = await run_relay(capsys, _config(tmp_path, world), "send", "--seller", "s1",
                                 "--order", "o1", "--template", "shipping-confirmation",
                                 *SHIPPING_VARS, "--json")
        assert one_line_error(result, 3) == f"relay: error: {replies.S550_OPTED_OUT.text}"
        assert await world.relay.store.queue.items() == []

    async def test_refused_by_the_content_rules(
        self, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A --var value is checked like any text the seller writes."""
        result = await run_relay(capsys, _config(tmp_path, world), "send", "--seller", "s1",
                                 "--order", "o1", "--template", "delivery-scheduling",
                                 "--var", "proposed_date=Friday, see https://acme-shop.example/x")
        line = one_line_error(result, 3)
        assert "link" in line.lower()
        assert await world.relay.store.queue.items() == []

    async def test_over_quota_says_to_try_again_later(
        self, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        config = _config(tmp_path, world,
                         extra="[policy]\nquota_base = 1\nquota_per_order = 0\n")
        args = ("send", "--seller", "s1", "--order", "o1", "--template",
                "delivery-scheduling", "--var", "proposed_date=Friday")
        assert (await run_relay(capsys, config, *args)).status == 0
        line = one_line_error(await run_relay(capsys, config, *args), 3)
        assert "Daily message limit of 1 reached" in line
        assert "try again later" in line

    async def test_unknown_seller_order_and_template(
        self, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        config = _config(tmp_path, world)
        for args, words in (
            (("--seller", "nobody", "--order", "o1", "--template", "x"), "nobody"),
            (("--seller", "s1", "--order", "o9", "--template", "x"), "o9"),
            (("--seller", "s2", "--order", "o1", "--template", "x"), "o1"),
            (("--seller", "s1", "--order", "o1", "--template", "nothing"), "nothing"),
        ):
            line = one_line_error(await run_relay(capsys, config, "send", *args, "--json"), 4)
            assert words in line


def _sample(names: frozenset[str]) -> dict[str, str]:
    sample = {"carrier": "DHL", "tracking_number": "JJD000390007",
              "proposed_date": "Friday 4 December, 9:00 to 12:00",
              "question": "Which colour would you like the engraving in?"}
    return {name: sample.get(name, "sample text") for name in names if name not in BUILTIN}


async def test_every_shipped_template_passes_the_shipped_rules(make_world: WorldFactory) -> None:
    """Rendered for a buyer of each language, in a status its reason allows, none is refused."""
    shipped = tomllib.loads((SHIPPED / "relay.toml").read_text(encoding="utf-8"))
    sections: dict[str, Any] = {key: shipped[key] for key in ("policy", "content",
                                                            "contact_reasons", "templates")}
    sections["templates"] = {**sections["templates"], "dir": str(SHIPPED / "templates")}
    world = await make_world(**sections)
    ctx = Context(world.relay.store, world.relay.settings)
    from relay.templates import check_directory

    found = check_directory(SHIPPED / "templates")
    names = {t.name for t in found}
    assert {t.language for t in found} == {"en", "de", "fr", "es", "ja"}
    assert len(found) == len(names) * 5
    assert len(names) == 5
    for template in found:
        directory = world.relay.store.directory
        await directory.put_buyer("b1", BUYER, "Bob Buyer", template.language)
        status = world.relay.settings.contact_reasons[template.reason][0]
        await directory.set_order_status("o1", status)
        sent = await send_template(ctx, seller="s1", order="o1", template=template.name,
                                   variables=_sample(template.placeholders))
        assert sent.status == "queued"
        received = await _received(world, sent.message)
        assert received["X-Contact-Reason"] == template.reason
        body = received.get_body(("plain",))
        assert body is not None
        assert "Bob Buyer" in body.get_content()
