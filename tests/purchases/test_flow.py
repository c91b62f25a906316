"""The worked example of docs/referrals.md, end to end: a two-sided program, a percentage
reward with a cap, a refund, a payout."""

from __future__ import annotations

from decimal import Decimal

from httpx import AsyncClient

from goodwill.db import Database
from tests.conftest import FakeClock, Tenant
from tests.kit import Kit, code_of, events_of


async def test_two_sided_program_with_a_capped_percentage_refund_and_payout(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    commission = await kit.rule(
        program,
        name="10% commission, at most 30 EUR",
        reward={"type": "percentage", "percent": "10", "cap": "30.00"},
        hold_days=14,
    )
    welcome = await kit.rule(
        program,
        name="10 EUR for the friend's first purchase",
        reward={"type": "fixed", "amount": "10.00"},
        beneficiary="referred_customer",
        conditions={"field": "purchase_number", "op": "eq", "value": 1},
    )
    ada = await kit.promoter(program, name="Ada", email="ada@example.com")
    assert ada["default_link"]["url"].endswith("/r/" + code_of(ada))

    first = await kit.purchase(
        external_id="order-1",
        customer={"source_id": "bob", "email": "bob@example.com"},
        amount="420.00",
        code=code_of(ada),
        items=[{"item_id": "item1", "amount": "420.00"}],
    )
    assert first["promoter_id"] == ada["id"]
    assert first["purchase_number"] == 1
    rules = {r["rule_id"]: r for r in first["explanation"]["rules"]}
    assert rules[commission["id"]]["fired"] is True
    assert rules[commission["id"]]["amount"] == 30  # 10% of 420 is 42, capped at 30
    assert rules[commission["id"]]["capped"] is True
    assert rules[welcome["id"]]["fired"] is True
    by_rule = {r["rule_id"]: r for r in first["rewards"]}
    assert by_rule[commission["id"]]["status"] == "pending"
    assert by_rule[commission["id"]]["amount"] == 30
    assert by_rule[welcome["id"]]["beneficiary"] == "referred_customer"
    assert by_rule[welcome["id"]]["status"] == "approved"  # no hold

    second = await kit.purchase(
        external_id="order-2", customer={"source_id": "bob"}, amount="100.00"
    )
    assert second["referral_id"] == first["referral_id"]  # the customer's referral
    assert second["purchase_number"] == 2
    rules = {r["rule_id"]: r for r in second["explanation"]["rules"]}
    assert rules[welcome["id"]] == {
        "rule_id": welcome["id"],
        "rule_name": welcome["name"],
        "fired": False,
        "code": "condition_false",
        "reason": "purchase_number is 2, not = 1",
    }
    assert [r["amount"] for r in second["rewards"]] == [10]

    # a partial refund of the second purchase reverses its commission in proportion
    refunded = await kit.refund(second["id"], amount="25.00")
    assert refunded["purchase"]["status"] == "partially_refunded"
    assert refunded["purchase"]["rewards"][0]["net"] == Decimal("7.5")

    clock.advance(days=14)
    from goodwill.maintenance import approve_held_rewards

    assert await approve_held_rewards(db, clock) >= 2  # every workspace's: ours are two
    got = await kit.get(f"/v1/promoters/{ada['id']}")
    assert got["balances"] == [
        {
            "unit": "EUR",
            "pending": 0,
            "approved": 37.5,
            "paid": 0,
            "clawback_outstanding": 0,
            "payable": 37.5,
        }
    ]
    assert got["stats"]["purchases"] == 2
    assert got["stats"]["revenue"] == [{"currency": "EUR", "amount": 495}]

    run = await kit.post("/v1/payouts", {"promoter_id": ada["id"]}, 201)
    assert [p["amount"] for p in run["data"]] == [37.5]
    # refunding the first purchase after the payout claws its commission back
    await kit.refund(first["id"])
    got = await kit.get(f"/v1/promoters/{ada['id']}")
    assert got["balances"][0]["paid"] == 37.5
    assert got["balances"][0]["clawback_outstanding"] == -30
    assert got["balances"][0]["payable"] == 0
    types = [e.type for e in await events_of(db, tenant)]
    for expected in (
        "referral.created",
        "purchase.created",
        "reward.created",
        "reward.approved",
        "purchase.refunded",
        "reward.paid",
        "payout.created",
        "reward.voided",
    ):
        assert expected in types, expected
