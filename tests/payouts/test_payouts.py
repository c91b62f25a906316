from __future__ import annotations

import asyncio
import csv
import io
import uuid

from httpx import AsyncClient

from goodwill.db import Database
from tests.conftest import Tenant, count_rows, error_of
from tests.kit import Kit, code_of, events_of


async def test_paying_a_programs_promoters_above_a_minimum(
    client: AsyncClient, tenant: Tenant, db: Database
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    await kit.rule(program, reward={"type": "percentage", "percent": "10"})
    await kit.rule(program, reward={"type": "points", "points": 5})
    big = await kit.promoter(program, name="Big")
    small = await kit.promoter(program, name="Small")
    idle = await kit.promoter(program, name="Idle")
    for n, (promoter, amount) in enumerate(((big, "600"), (big, "100"), (small, "200"))):
        await kit.purchase(
            external_id=f"o{n}",
            customer={"source_id": f"c-{promoter['name']}"},
            amount=amount,
            code=code_of(promoter),
        )
    run = await kit.post("/v1/payouts", {"program_id": program["id"], "minimum": "50"}, 201)
    [payout] = run["data"]
    assert (payout["promoter_id"], payout["amount"], payout["reward_count"]) == (big["id"], 70, 2)
    assert payout["currency"] == "EUR"
    assert sorted((s["account_id"], s["reason"]) for s in run["skipped"]) == sorted(
        [
            (small["id"], "below the minimum of 50.00 EUR"),
            (idle["id"], "no approved rewards"),
        ]
    )
    assert (await kit.get(f"/v1/payouts/{payout['id']}")) == payout
    balances = (await kit.get(f"/v1/promoters/{big['id']}"))["balances"]
    assert balances == [
        {
            "unit": "EUR",
            "pending": 0,
            "approved": 0,
            "paid": 70,
            "clawback_outstanding": 0,
            "payable": 0,
        },
        {
            "unit": "points",
            "pending": 0,
            "approved": 10,
            "paid": 0,
            "clawback_outstanding": 0,
            "payable": 10,
        },
    ]
    assert len(await events_of(db, tenant, "reward.paid")) == 2
    [created] = await events_of(db, tenant, "payout.created")
    assert created.data["amount"] == "70.00"

    r = await client.get(f"/v1/payouts/{payout['id']}/export", headers=tenant.headers)
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(row["line"], row["amount"]) for row in rows] == [
        ("reward", "60.00"),
        ("reward", "10.00"),
        ("total", "70.00"),
    ]
    again = await kit.post("/v1/payouts", {"promoter_id": big["id"]}, 200)
    assert again["data"] == []
    assert again["skipped"][0]["reason"] == "no approved rewards"
    listed = await kit.get(f"/v1/payouts?promoter_id={big['id']}")
    assert [p["id"] for p in listed["data"]] == [payout["id"]]


async def test_concurrent_payouts_pay_each_reward_once(
    client: AsyncClient, tenant: Tenant, db: Database
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    await kit.rule(program, reward={"type": "fixed", "amount": "1"})
    ada = await kit.promoter(program)
    for n in range(5):
        await kit.purchase(
            external_id=f"o{n}", customer={"source_id": "c"}, amount="1", code=code_of(ada)
        )
    responses = await asyncio.gather(
        *(
            client.post("/v1/payouts", json={"promoter_id": ada["id"]}, headers=tenant.headers)
            for _ in range(10)
        )
    )
    assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
    assert await count_rows(db, "payouts", tenant.workspace_id) == 1
    balance = (await kit.get(f"/v1/promoters/{ada['id']}"))["balances"][0]
    assert (balance["paid"], balance["approved"]) == (5, 0)


async def test_customer_payouts_and_bad_requests(
    client: AsyncClient, tenant: Tenant, other_tenant: Tenant, db: Database
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    await kit.rule(
        program, reward={"type": "fixed", "amount": "10"}, beneficiary="referred_customer"
    )
    ada = await kit.promoter(program)
    bought = await kit.purchase(
        external_id="o", customer={"source_id": "friend"}, amount="1", code=code_of(ada)
    )
    for body, status, param in (
        ({}, 422, "promoter_id"),
        ({"promoter_id": ada["id"], "program_id": program["id"]}, 422, "program_id"),
        ({"customer_id": bought["customer_id"], "minimum": "1"}, 422, "minimum"),
        ({"promoter_id": ada["id"], "minimum": "0.001"}, 422, "minimum"),
        ({"promoter_id": str(uuid.uuid4())}, 404, "promoter_id"),
        ({"program_id": str(uuid.uuid4())}, 404, "program_id"),
        ({"customer_id": str(uuid.uuid4())}, 404, "customer_id"),
    ):
        r = await client.post("/v1/payouts", json=body, headers=tenant.headers)
        assert (r.status_code, error_of(r).get("param")) == (status, param), (body, r.text)
    for body in ({"promoter_id": ada["id"]}, {"customer_id": bought["customer_id"]}):
        r = await client.post("/v1/payouts", json=body, headers=other_tenant.headers)
        assert r.status_code == 404
    assert await count_rows(db, "payouts", tenant.workspace_id) == 0
    # the promoter has nothing: the reward is the friend's
    skipped = await kit.post("/v1/payouts", {"promoter_id": ada["id"]}, 200)
    assert skipped["data"] == []
    run = await kit.post("/v1/payouts", {"customer_id": bought["customer_id"]}, 201)
    assert [(p["account_type"], p["amount"]) for p in run["data"]] == [("customer", 10)]
    payout_id = run["data"][0]["id"]
    for path in (f"/v1/payouts/{payout_id}", f"/v1/payouts/{payout_id}/export"):
        assert (await client.get(path, headers=other_tenant.headers)).status_code == 404
    assert (await client.get("/v1/payouts", headers=other_tenant.headers)).json()["data"] == []
