"""Rule limits and windows at their edges, through real purchases and a moving clock."""

from __future__ import annotations

from datetime import UTC, datetime

from httpx import AsyncClient

from tests.conftest import FakeClock, Tenant
from tests.kit import Kit, code_of


def codes(purchase: dict) -> list[str]:  # type: ignore[type-arg]
    return [r["code"] for r in purchase["explanation"]["rules"]]


async def test_a_window_after_the_referral_ends_on_its_last_millisecond(
    client: AsyncClient, tenant: Tenant, clock: FakeClock
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    await kit.rule(program, reward={"type": "fixed", "amount": "1"}, limits={"window_days": 30})
    ada = await kit.promoter(program)
    first = await kit.purchase(
        external_id="0", customer={"source_id": "b"}, amount="5", code=code_of(ada)
    )
    assert codes(first) == ["fired"]
    clock.advance(days=30)
    assert codes(await kit.purchase(external_id="1", customer={"source_id": "b"}, amount="5")) == [
        "fired"
    ]
    clock.advance(milliseconds=1)
    late = await kit.purchase(external_id="2", customer={"source_id": "b"}, amount="5")
    assert codes(late) == ["outside_window"]
    # the window runs from the referral to when the purchase occurred, not when it is reported
    backdated = await kit.purchase(
        external_id="3",
        customer={"source_id": "b"},
        amount="5",
        occurred_at="2026-05-06T06:23:54.793Z",
    )
    assert codes(backdated) == ["fired"]
    assert backdated["explanation"]["rules"][0]["fired"] is True


async def test_once_per_referral_and_a_voided_reward_frees_its_place(
    client: AsyncClient, tenant: Tenant
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    await kit.rule(
        program,
        reward={"type": "fixed", "amount": "10"},
        limits={"per_referral": 2},
        conditions={"field": "purchase_number", "op": "lte", "value": 5},
    )
    ada = await kit.promoter(program)
    made = [
        await kit.purchase(
            external_id=str(n), customer={"source_id": "b"}, amount="5", code=code_of(ada)
        )
        for n in range(3)
    ]
    assert [codes(p) for p in made] == [["fired"], ["fired"], ["limit_reached"]]
    await kit.refund(made[0]["id"])  # voids its reward
    again = await kit.purchase(external_id="3", customer={"source_id": "b"}, amount="5")
    assert codes(again) == ["fired"]


async def test_a_monthly_total_per_promoter_resets_on_the_first_of_the_month(
    client: AsyncClient, tenant: Tenant, clock: FakeClock
) -> None:
    clock.now = datetime(2026, 4, 30, 23, 59, 59, 998000, tzinfo=UTC)
    kit = Kit(client, tenant)
    program = await kit.program()
    await kit.rule(
        program,
        reward={"type": "percentage", "percent": "10"},
        limits={"per_promoter": {"period": "month", "max_amount": "25.00"}},
    )
    ada = await kit.promoter(program)
    n = 0

    async def buy(amount: str) -> dict:  # type: ignore[type-arg]
        nonlocal n
        n += 1
        return await kit.purchase(
            external_id=str(n), customer={"source_id": f"c{n}"}, amount=amount, code=code_of(ada)
        )

    first = await buy("200")
    assert [r["amount"] for r in first["rewards"]] == [20]
    clock.advance(milliseconds=1)  # 23:59:59.999: still April
    capped = await buy("200")
    assert [r["amount"] for r in capped["rewards"]] == [5]
    assert capped["explanation"]["rules"][0]["capped"] is True
    full = await buy("200")
    assert codes(full) == ["promoter_limit_reached"]
    clock.advance(milliseconds=1)  # May
    assert [r["amount"] for r in (await buy("200"))["rewards"]] == [20]
    # a refund gives back room in the month it was granted
    await kit.refund(first["id"], amount="100")
    clock.now = datetime(2026, 4, 30, 23, 0, tzinfo=UTC)
    assert [r["amount"] for r in (await buy("200"))["rewards"]] == [10]


async def test_exclusive_groups_through_a_purchase(client: AsyncClient, tenant: Tenant) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    flat = await kit.rule(
        program, name="flat", reward={"type": "fixed", "amount": "15"}, exclusive_group="welcome"
    )
    pct = await kit.rule(
        program,
        name="pct",
        reward={"type": "percentage", "percent": "10"},
        exclusive_group="welcome",
    )
    ada = await kit.promoter(program)
    small = await kit.purchase(
        external_id="s", customer={"source_id": "s"}, amount="100", code=code_of(ada)
    )
    assert [r["rule_id"] for r in small["rewards"]] == [flat["id"]]
    big = await kit.purchase(
        external_id="b", customer={"source_id": "b"}, amount="300", code=code_of(ada)
    )
    assert [r["rule_id"] for r in big["rewards"]] == [pct["id"]]
    assert codes(big) == ["exclusive_group", "fired"]
