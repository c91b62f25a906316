from __future__ import annotations

from typing import Any

from httpx import AsyncClient

from goodwill.db import Database
from tests.conftest import Tenant, count_rows, error_of
from tests.kit import Kit, code_of, events_of


async def _bought(kit: Kit, amount: str = "100.00", currency: str = "EUR") -> dict[str, Any]:
    program = await kit.program(currency)
    await kit.rule(program, reward={"type": "percentage", "percent": "10"}, hold_days=30)
    await kit.rule(program, reward={"type": "fixed", "amount": "3"}, hold_days=0)
    ada = await kit.promoter(program)
    return await kit.purchase(
        external_id=f"o-{currency}-{amount}",
        customer={"source_id": f"c-{currency}-{amount}"},
        currency=currency,
        amount=amount,
        code=code_of(ada),
    )


def nets(purchase: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(r["status"], r["net"]) for r in purchase["rewards"]]


async def test_a_full_refund_voids_every_unpaid_reward(
    client: AsyncClient, tenant: Tenant, db: Database
) -> None:
    kit = Kit(client, tenant)
    bought = await _bought(kit)
    assert nets(bought) == [("pending", 10), ("approved", 3)]
    done = await kit.refund(bought["id"])
    assert done["refund"]["amount"] == 100
    assert done["purchase"]["status"] == "refunded"
    assert done["purchase"]["refunded_amount"] == 100
    assert [(r["status"], r["void_reason"]) for r in done["purchase"]["rewards"]] == [
        ("voided", "the purchase was refunded in full"),
        ("voided", "the purchase was refunded in full"),
    ]
    promoter = await kit.get(f"/v1/promoters/{bought['promoter_id']}")
    assert promoter["balances"][0] == {
        "unit": "EUR",
        "pending": 0,
        "approved": 0,
        "paid": 0,
        "clawback_outstanding": 0,
        "payable": 0,
    }
    [event] = await events_of(db, tenant, "purchase.refunded")
    assert event.data["purchase_status"] == "refunded"
    assert event.data["amount"] == "100.00"
    assert len(await events_of(db, tenant, "reward.voided")) == 2
    r = await client.post(f"/v1/purchases/{bought['id']}/refunds", json={}, headers=tenant.headers)
    assert r.status_code == 409  # nothing remains


async def test_partial_refunds_reverse_in_proportion_without_drift(
    client: AsyncClient, tenant: Tenant, db: Database
) -> None:
    kit = Kit(client, tenant)
    bought = await _bought(kit, "10.00")  # rewards: 1.00 (10%) and 3.00
    first = await kit.refund(bought["id"], amount="3.33")
    # 1.00 × 3.33/10 = 0.333 → 0.33; 3.00 × 0.333 = 0.999 → 1.00
    assert nets(first["purchase"]) == [("pending", 0.67), ("approved", 2)]
    assert first["purchase"]["status"] == "partially_refunded"
    second = await kit.refund(bought["id"], amount="3.33")
    # counted from the total refunded (6.66): 0.666 → 0.67 and 1.998 → 2.00
    assert nets(second["purchase"]) == [("pending", 0.33), ("approved", 1)]
    r = await client.post(
        f"/v1/purchases/{bought['id']}/refunds", json={"amount": "3.35"}, headers=tenant.headers
    )
    assert r.status_code == 422
    assert error_of(r)["param"] == "amount"
    assert "3.34 EUR that remains" in error_of(r)["message"]
    last = await kit.refund(bought["id"])
    assert last["refund"]["amount"] == 3.34
    assert [r["status"] for r in last["purchase"]["rewards"]] == ["voided", "voided"]
    entries = await count_rows(db, "ledger_entries", tenant.workspace_id)
    # reversed, reversed, voided for each reward (each reward is its own earned entry)
    assert entries == 2 + 2 + 2


async def test_refund_idempotency_and_bad_refunds(
    client: AsyncClient, tenant: Tenant, other_tenant: Tenant, db: Database
) -> None:
    kit = Kit(client, tenant)
    bought = await _bought(kit, "50", "JPY")
    url = f"/v1/purchases/{bought['id']}/refunds"
    first = await kit.refund(bought["id"], amount="20", external_id="rf-1")
    again = await kit.refund(bought["id"], expect=200, amount="20", external_id="rf-1")
    assert again["refund"]["id"] == first["refund"]["id"]
    assert again["purchase"]["refunded_amount"] == 20
    counts = {
        t: await count_rows(db, t, tenant.workspace_id)
        for t in ("refunds", "ledger_entries", "events")
    }
    for body, status, param in (
        ({"amount": "21", "external_id": "rf-1"}, 409, "external_id"),
        ({"amount": "0.5"}, 422, "amount"),  # JPY has no minor unit
        ({"amount": "31"}, 422, "amount"),
        ({"amount": "0"}, 422, "amount"),
        ({"amount": "-1"}, 422, "amount"),
        ({"amount": "1", "reason": "x"}, 422, "reason"),
    ):
        r = await client.post(url, json=body, headers=tenant.headers)
        assert (r.status_code, error_of(r).get("param")) == (status, param), (body, r.text)
    r = await client.post(url, json={"amount": "1"}, headers=other_tenant.headers)
    assert r.status_code == 404
    for table, n in counts.items():
        assert await count_rows(db, table, tenant.workspace_id) == n, table


async def test_a_zero_amount_purchase_can_be_refunded_once(
    client: AsyncClient, tenant: Tenant
) -> None:
    kit = Kit(client, tenant)
    bought = await _bought(kit, "0")
    assert nets(bought) == [("approved", 3)]  # the percentage is 0: not granted
    done = await kit.refund(bought["id"])
    assert done["purchase"]["status"] == "refunded"
    assert nets(done["purchase"]) == [("voided", 3)]
    r = await client.post(f"/v1/purchases/{bought['id']}/refunds", json={}, headers=tenant.headers)
    assert r.status_code == 409


async def test_a_paid_reward_is_clawed_back_and_netted_against_the_next_payout(
    client: AsyncClient, tenant: Tenant
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    await kit.rule(program, reward={"type": "percentage", "percent": "10"})
    ada = await kit.promoter(program)
    one = await kit.purchase(
        external_id="1", customer={"source_id": "a"}, amount="200", code=code_of(ada)
    )
    run = await kit.post("/v1/payouts", {"promoter_id": ada["id"]}, 201)
    assert run["data"][0]["amount"] == 20
    partly = await kit.refund(one["id"], amount="50")
    assert nets(partly["purchase"]) == [("paid", 15)]
    balance = (await kit.get(f"/v1/promoters/{ada['id']}"))["balances"][0]
    assert (balance["paid"], balance["clawback_outstanding"], balance["payable"]) == (20, -5, 0)
    await kit.purchase(external_id="2", customer={"source_id": "a"}, amount="80")
    run = await kit.post("/v1/payouts", {"promoter_id": ada["id"]}, 201)
    [payout] = run["data"]
    assert (payout["amount"], payout["rewards_amount"], payout["clawback_amount"]) == (3, 8, 5)
    balance = (await kit.get(f"/v1/promoters/{ada['id']}"))["balances"][0]
    assert (balance["paid"], balance["clawback_outstanding"], balance["approved"]) == (23, 0, 0)
    rest = await kit.refund(one["id"])  # the rest of a paid reward: clawed back to 0
    assert nets(rest["purchase"]) == [("paid", 0)]
    balance = (await kit.get(f"/v1/promoters/{ada['id']}"))["balances"][0]
    assert balance["clawback_outstanding"] == -15
