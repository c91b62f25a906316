from __future__ import annotations

import csv
import io
import uuid

from httpx import AsyncClient

from goodwill.db import Database
from goodwill.maintenance import approve_held_rewards
from tests.conftest import FakeClock, Tenant, count_rows, error_of
from tests.kit import Kit, code_of, events_of


async def _pending(kit: Kit, hold_days: int = 30) -> dict:  # type: ignore[type-arg]
    program = await kit.program()
    await kit.rule(program, reward={"type": "fixed", "amount": "7.50"}, hold_days=hold_days)
    ada = await kit.promoter(program)
    bought = await kit.purchase(
        external_id=str(uuid.uuid4()),
        customer={"source_id": str(uuid.uuid4())},
        amount="1",
        code=code_of(ada),
    )
    return dict(bought["rewards"][0])


async def test_the_hold_ends_to_the_millisecond_and_approval_is_idempotent(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock
) -> None:
    kit = Kit(client, tenant)
    reward = await _pending(kit, hold_days=30)
    assert reward["hold_until"] == "2026-05-06T06:23:54.793Z"
    # the job runs over every workspace: count this one's approvals by their events
    clock.advance(days=30, milliseconds=-1)
    await approve_held_rewards(db, clock)
    assert (await kit.get(f"/v1/rewards/{reward['id']}"))["status"] == "pending"
    clock.advance(milliseconds=1)
    assert await approve_held_rewards(db, clock) >= 1
    assert await approve_held_rewards(db, clock) == 0
    got = await kit.get(f"/v1/rewards/{reward['id']}")
    assert (got["status"], got["approved_at"]) == ("approved", "2026-05-06T06:23:54.793Z")
    [event] = await events_of(db, tenant, "reward.approved")
    assert event.source == "urn:goodwill:hold-period"
    again = await kit.post(f"/v1/rewards/{reward['id']}/approve", {}, 200)
    assert again == got
    assert len(await events_of(db, tenant, "reward.approved")) == 1


async def test_approve_early_void_and_the_refused_transitions(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock
) -> None:
    kit = Kit(client, tenant)
    early = await _pending(kit)
    approved = await kit.post(f"/v1/rewards/{early['id']}/approve", {}, 200)
    assert approved["status"] == "approved"
    voided = await kit.post(f"/v1/rewards/{early['id']}/void", {"reason": "fraud"}, 200)
    assert (voided["status"], voided["void_reason"]) == ("voided", "fraud")
    assert (await kit.post(f"/v1/rewards/{early['id']}/void", {"reason": "again"}, 200))[
        "void_reason"
    ] == "fraud"
    r = await client.post(f"/v1/rewards/{early['id']}/approve", json={}, headers=tenant.headers)
    assert r.status_code == 409
    clock.advance(days=31)
    await approve_held_rewards(db, clock)
    assert (await kit.get(f"/v1/rewards/{early['id']}"))["status"] == "voided"  # for good
    r = await client.post(f"/v1/rewards/{early['id']}/void", json={}, headers=tenant.headers)
    assert (r.status_code, error_of(r)["param"]) == (422, "reason")
    r = await client.post(
        f"/v1/rewards/{uuid.uuid4()}/void", json={"reason": "x"}, headers=tenant.headers
    )
    assert r.status_code == 404

    paid = await _pending(kit, hold_days=0)
    await kit.post("/v1/payouts", {"promoter_id": paid["promoter_id"]}, 201)
    before = await count_rows(db, "ledger_entries", tenant.workspace_id)
    r = await client.post(
        f"/v1/rewards/{paid['id']}/void", json={"reason": "x"}, headers=tenant.headers
    )
    assert r.status_code == 409
    assert (await kit.post(f"/v1/rewards/{paid['id']}/approve", {}, 200))["status"] == "paid"
    assert await count_rows(db, "ledger_entries", tenant.workspace_id) == before


async def test_listing_filters_and_csv_export(
    client: AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    kit = Kit(client, tenant)
    first = await _pending(kit)
    second = await _pending(kit, hold_days=0)
    listed = await kit.get("/v1/rewards?status=pending")
    assert [r["id"] for r in listed["data"]] == [first["id"]]
    listed = await kit.get(f"/v1/rewards?promoter_id={second['promoter_id']}")
    assert [r["id"] for r in listed["data"]] == [second["id"]]
    listed = await kit.get(f"/v1/rewards?purchase_id={first['purchase_id']}&status=approved")
    assert listed["data"] == []
    r = await client.get("/v1/rewards?status=owed", headers=tenant.headers)
    assert r.status_code == 422

    r = await client.get("/v1/rewards/export?status=approved", headers=tenant.headers)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert 'filename="rewards-approved.csv"' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(row["reward_id"], row["status"], row["net"], row["unit"]) for row in rows] == [
        (second["id"], "approved", "7.50", "EUR")
    ]
    everything = await client.get("/v1/rewards/export", headers=tenant.headers)
    assert len(list(csv.DictReader(io.StringIO(everything.text)))) == 2
    theirs = await client.get("/v1/rewards/export", headers=other_tenant.headers)
    assert list(csv.DictReader(io.StringIO(theirs.text))) == []


async def test_the_maintenance_loop_approves_held_rewards(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock, settings
) -> None:
    import asyncio

    from goodwill.maintenance import maintenance_loop

    kit = Kit(client, tenant)
    reward = await _pending(kit, hold_days=1)
    clock.advance(days=1)
    task = asyncio.create_task(maintenance_loop(db, settings, clock))
    try:
        for _ in range(100):  # its first round runs at once
            if (await kit.get(f"/v1/rewards/{reward['id']}"))["status"] == "approved":
                break
            await asyncio.sleep(0.02)
        assert (await kit.get(f"/v1/rewards/{reward['id']}"))["status"] == "approved"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
