"""`relay seller|buyer|order|alias`: JSON shapes, human output and errors, on both backends."""

from __future__ import annotations

from tests.unit.cli.runner import Relay, one_line_error

ALIAS_LENGTH = 35


def _pair(relay: Relay) -> None:
    relay.ok("seller", "add", "s1", "--name", "Acme Shop", "--email", "Owner@Acme.example")
    relay.ok("buyer", "add", "b1", "--email", "bob@buyer.example", "--name", "Bob B.")


class TestSeller:
    def test_add_prints_the_seller_record(self, relay: Relay) -> None:
        """The primary address is lower-cased and authorised at once."""
        seller = relay.ok(
            "seller", "add", "s1", "--name", "Acme Shop", "--email", "Owner@Acme.example",
            "--orders-per-day", "40",
        )
        assert seller == {
            "id": "s1", "name": "Acme Shop", "email": "owner@acme.example",
            "orders_per_day": 40, "addresses": ["owner@acme.example"],
        }

    def test_add_again_updates(self, relay: Relay) -> None:
        _pair(relay)
        seller = relay.ok("seller", "add", "s1", "--name", "Acme", "--email", "new@acme.example")
        assert seller["name"] == "Acme"
        assert seller["email"] == "new@acme.example"

    def test_human_output_is_key_value_lines(self, relay: Relay) -> None:
        result = relay("seller", "add", "s1", "--name", "Acme Shop", "--email", "o@acme.example")
        assert result.status == 0
        assert result.out.splitlines() == [
            "id: s1", "name: Acme Shop", "email: o@acme.example", "orders_per_day: -",
            "addresses: o@acme.example",
        ]

    def test_authorize_and_revoke(self, relay: Relay) -> None:
        _pair(relay)
        seller = relay.ok("seller", "authorize", "s1", "Staff@Acme.example")
        assert seller["addresses"] == ["owner@acme.example", "staff@acme.example"]
        seller = relay.ok("seller", "revoke", "s1", "staff@acme.example")
        assert seller["addresses"] == ["owner@acme.example"]

    def test_revoking_an_unknown_address_is_not_found(self, relay: Relay) -> None:
        _pair(relay)
        line = one_line_error(relay("seller", "revoke", "s1", "nobody@acme.example"), 4)
        assert "nobody@acme.example" in line

    def test_unknown_seller_is_not_found(self, relay: Relay) -> None:
        line = one_line_error(relay("seller", "authorize", "nope", "a@b.example"), 4)
        assert line == "relay: error: no seller 'nope'"

    def test_bad_email_is_a_usage_error(self, relay: Relay) -> None:
        """A bad address is exit 2 with a sentence, and nothing is written."""
        result = relay("seller", "add", "s1", "--name", "Acme", "--email", "not-an-address")
        line = one_line_error(result, 2)
        assert line == "relay: error: argument --email: 'not-an-address' is not an email address"
        one_line_error(relay("seller", "authorize", "s1", "a@b.example"), 4)

    def test_a_new_primary_replaces_the_old_one(self, relay: Relay) -> None:
        """The old primary may no longer send unless it is authorised again."""
        _pair(relay)
        relay.ok("seller", "authorize", "s1", "staff@acme.example")
        seller = relay.ok("seller", "add", "s1", "--name", "Acme", "--email", "new@acme.example")
        assert seller["email"] == "new@acme.example"
        assert seller["addresses"] == ["new@acme.example", "staff@acme.example"]

    def test_promoting_an_authorised_address_keeps_it_once(self, relay: Relay) -> None:
        _pair(relay)
        relay.ok("seller", "authorize", "s1", "staff@acme.example")
        seller = relay.ok("seller", "add", "s1", "--name", "A", "--email", "staff@acme.example")
        assert seller["addresses"] == ["staff@acme.example"]

    def test_an_address_belongs_to_one_seller(self, relay: Relay) -> None:
        """Authorising, or making primary, another seller's address is a conflict."""
        _pair(relay)
        relay.ok("seller", "add", "s2", "--name", "Evil", "--email", "evil@evil.example")
        expected = "relay: error: owner@acme.example is already an address of another seller"
        result = relay("seller", "authorize", "s2", "Owner@Acme.example")
        assert one_line_error(result, 1) == expected
        result = relay("seller", "add", "s2", "--name", "Evil", "--email", "owner@acme.example")
        assert one_line_error(result, 1) == expected
        result = relay("seller", "add", "s3", "--name", "New", "--email", "owner@acme.example")
        assert one_line_error(result, 1) == expected
        assert relay.ok("seller", "authorize", "s2", "evil@evil.example")["addresses"] == [
            "evil@evil.example"]
        one_line_error(relay("seller", "authorize", "s3", "x@new.example"), 4)  # not created

    def test_revoking_the_primary_address_is_refused_by_rule(self, relay: Relay) -> None:
        _pair(relay)
        line = one_line_error(relay("seller", "revoke", "s1", "owner@acme.example"), 3)
        assert line == (
            "relay: error: owner@acme.example is the seller's primary address; "
            "set a new primary with `relay seller add --email` first"
        )

    def test_orders_per_day_must_be_a_count(self, relay: Relay) -> None:
        result = relay("seller", "add", "s1", "--name", "A", "--email", "a@b.example",
                       "--orders-per-day", "-3")
        assert "--orders-per-day" in one_line_error(result, 2)


class TestBuyer:
    def test_add_prints_the_buyer_record(self, relay: Relay) -> None:
        buyer = relay.ok("buyer", "add", "b1", "--email", "Bob@Buyer.example", "--language", "de")
        assert buyer == {
            "id": "b1", "email": "bob@buyer.example", "name": None, "language": "de",
            "opted_out": False,
        }

    def test_opt_out_and_in(self, relay: Relay) -> None:
        _pair(relay)
        assert relay.ok("buyer", "opt-out", "b1")["opted_out"] is True
        result = relay("buyer", "opt-in", "b1")
        assert result.status == 0
        assert "opted_out: no" in result.out.splitlines()

    def test_opting_out_an_unknown_buyer_is_not_found(self, relay: Relay) -> None:
        line = one_line_error(relay("buyer", "opt-out", "nope"), 4)
        assert line == "relay: error: no buyer 'nope'"


class TestOrder:
    def test_add_prints_the_order_record(self, relay: Relay) -> None:
        _pair(relay)
        order = relay.ok("order", "add", "o1", "--buyer", "b1", "--seller", "s1")
        assert order == {"id": "o1", "buyer_id": "b1", "seller_id": "s1", "status": "unshipped"}
        order = relay.ok("order", "add", "o1", "--buyer", "b1", "--seller", "s1",
                         "--status", "shipped")
        assert order["status"] == "shipped"

    def test_replaying_an_add_is_idempotent_and_keeps_the_status(self, relay: Relay) -> None:
        """A replay without --status leaves the status the order has reached."""
        _pair(relay)
        relay.ok("order", "add", "o1", "--buyer", "b1", "--seller", "s1", "--status", "shipped")
        order = relay.ok("order", "add", "o1", "--buyer", "b1", "--seller", "s1")
        assert order == {"id": "o1", "buyer_id": "b1", "seller_id": "s1", "status": "shipped"}

    def test_an_add_that_moves_the_order_is_a_conflict(self, relay: Relay) -> None:
        """An order cannot change hands: exit 1, naming the field, and nothing moves."""
        _pair(relay)
        relay.ok("seller", "add", "evil", "--name", "Evil", "--email", "evil@evil.example")
        relay.ok("buyer", "add", "b2", "--email", "b2@buyer.example")
        relay.ok("order", "add", "112-0001", "--buyer", "b1", "--seller", "s1")
        result = relay("order", "add", "112-0001", "--buyer", "b1", "--seller", "evil")
        assert one_line_error(result, 1) == (
            "relay: error: order 112-0001 belongs to seller s1, not evil")
        result = relay("order", "add", "112-0001", "--buyer", "b2", "--seller", "s1")
        assert one_line_error(result, 1) == (
            "relay: error: order 112-0001 belongs to buyer b1, not b2")
        aliases = relay.ok("alias", "show", "--buyer", "b1", "--seller", "s1")
        assert relay.ok("alias", "lookup", aliases["buyer_alias"])["orders"] == ["112-0001"]

    def test_a_status_outside_the_set_is_a_usage_error(self, relay: Relay) -> None:
        _pair(relay)
        result = relay("order", "add", "o1", "--buyer", "b1", "--seller", "s1",
                       "--status", "weird")
        line = one_line_error(result, 2)
        assert "'weird'" in line
        for status in ("pending", "unshipped", "shipped", "delivered", "cancelled", "returned"):
            assert status in line
        one_line_error(relay("order", "set-status", "o1", "weird"), 2)

    def test_set_status(self, relay: Relay) -> None:
        _pair(relay)
        relay.ok("order", "add", "o1", "--buyer", "b1", "--seller", "s1")
        order = relay.ok("order", "set-status", "o1", "delivered")
        assert order == {"id": "o1", "buyer_id": "b1", "seller_id": "s1", "status": "delivered"}

    def test_set_status_of_an_unknown_order_is_not_found(self, relay: Relay) -> None:
        line = one_line_error(relay("order", "set-status", "o9", "shipped"), 4)
        assert line == "relay: error: no order 'o9'"

    def test_unknown_buyer_is_not_found(self, relay: Relay) -> None:
        _pair(relay)
        result = relay("order", "add", "o1", "--buyer", "nope", "--seller", "s1")
        assert one_line_error(result, 4) == "relay: error: no buyer 'nope'"


class TestAlias:
    def test_show_is_stable_and_exactly_35_characters(self, relay: Relay) -> None:
        """The first call creates the pair's aliases; later calls print the same two."""
        _pair(relay)
        first = relay.ok("alias", "show", "--buyer", "b1", "--seller", "s1")
        assert set(first) == {"buyer_alias", "seller_alias"}
        assert first["buyer_alias"] != first["seller_alias"]
        for alias in first.values():
            assert len(alias) == ALIAS_LENGTH
            assert alias.endswith("@relay.example")
        assert relay.ok("alias", "show", "--buyer", "b1", "--seller", "s1") == first

    def test_show_human_output(self, relay: Relay) -> None:
        _pair(relay)
        aliases = relay.ok("alias", "show", "--buyer", "b1", "--seller", "s1")
        result = relay("alias", "show", "--buyer", "b1", "--seller", "s1")
        assert result.out.splitlines() == [
            f"buyer_alias: {aliases['buyer_alias']}", f"seller_alias: {aliases['seller_alias']}",
        ]

    def test_lookup_is_case_insensitive(self, relay: Relay) -> None:
        _pair(relay)
        relay.ok("order", "add", "o1", "--buyer", "b1", "--seller", "s1")
        relay.ok("order", "add", "o2", "--buyer", "b1", "--seller", "s1")
        aliases = relay.ok("alias", "show", "--buyer", "b1", "--seller", "s1")
        info = relay.ok("alias", "lookup", aliases["seller_alias"].upper())
        assert sorted(info.pop("orders")) == ["o1", "o2"]  # created in the same second, maybe
        assert info == {"kind": "seller", "buyer": "b1", "seller": "s1"}
        assert relay.ok("alias", "lookup", aliases["buyer_alias"])["kind"] == "buyer"

    def test_lookup_of_an_unknown_alias_is_not_found(self, relay: Relay) -> None:
        line = one_line_error(relay("alias", "lookup", "nobody@relay.example"), 4)
        assert line == "relay: error: no alias nobody@relay.example"

    def test_show_for_an_unknown_seller_is_not_found(self, relay: Relay) -> None:
        _pair(relay)
        result = relay("alias", "show", "--buyer", "b1", "--seller", "nope")
        assert one_line_error(result, 4) == "relay: error: no seller 'nope'"
