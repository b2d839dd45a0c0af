"""Leases as this process trusts them: a guarded send is cut off when its lease may end."""

from __future__ import annotations

import asyncio

import pytest

from relay.delivery.leases import LeaseLost, Leases


def now() -> float:
    return asyncio.get_running_loop().time()


async def test_a_guarded_block_is_cut_off_when_the_lease_may_end() -> None:
    leases = Leases(lease=0.6, margin=0.1)
    start = now()
    leases.hold([7], start)
    with pytest.raises(LeaseLost):
        async with leases.guard(7):
            await asyncio.sleep(5)
    assert 0.45 <= now() - start < 1.0  # at lease - margin, before the store's lease ends


async def test_a_renewal_moves_the_cut_off_later() -> None:
    leases = Leases(lease=0.6, margin=0.1)
    leases.hold([7], now())

    async def renew() -> None:
        for _ in range(4):
            await asyncio.sleep(0.2)
            leases.renewed([7], now())

    renewing = asyncio.create_task(renew())
    async with leases.guard(7):
        await asyncio.sleep(1.0)  # longer than one lease: renewals carry it
    await renewing


async def test_nothing_runs_under_a_lease_not_held() -> None:
    leases = Leases(lease=0.6, margin=0.1)
    leases.hold([7], now())
    leases.let_go([7])
    leases.renewed([7], now())  # a late renewal does not bring it back
    assert leases.held() == []
    with pytest.raises(LeaseLost):
        async with leases.guard(7):
            await asyncio.sleep(5)


async def test_fresh_while_half_the_lease_is_left() -> None:
    leases = Leases(lease=0.4, margin=0.05)
    leases.hold([7], now())
    assert leases.fresh(7)
    await asyncio.sleep(0.2)
    assert not leases.fresh(7)
    assert not leases.fresh(8)


async def test_failures_inside_the_block_pass_through() -> None:
    leases = Leases(lease=0.6, margin=0.1)
    leases.hold([7], now())
    with pytest.raises(TimeoutError):
        async with leases.guard(7):
            raise TimeoutError("the upstream's own timeout")


def test_the_margin_must_leave_room() -> None:
    with pytest.raises(ValueError, match="margin"):
        Leases(lease=10, margin=5)
