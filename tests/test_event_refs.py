"""Events stored without their data (``goodwill.events.refs``): a new reward's, stamp's and
referral's ``*.created`` read exactly as they were emitted, however their rows change later."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select

from goodwill.db import Database
from goodwill.db.packed import json_bytes
from goodwill.events import refs
from goodwill.events.models import EventGroup
from goodwill.events.service import emit
from goodwill.http.encoding import to_builtins
from goodwill.referrals.models import Referral
from goodwill.referrals.schemas import ReferralOut
from goodwill.rewards.models import Reward
from goodwill.rewards.schemas import RewardOut
from tests.conftest import FakeClock, Tenant
from tests.kit import Kit, code_of, stored_events

CARD = {"stamps_required": 9, "reward": {"description": "The 10th coffee free"}}


async def _bodies(db: Database, workspace_id: uuid.UUID) -> list[list[Any]]:
    """Every event entry as stored: ``[type, source, subject, attributes, data]``."""
    async with db.transaction(write=False) as session:
        rows = await session.execute(
            select(EventGroup.body).where(EventGroup.workspace_id == workspace_id)
        )
        return [entry for (body,) in rows for entry in body]


async def _as_read(client: AsyncClient, tenant: Tenant, types: str) -> dict[str, Any]:
    """The data of each event of ``types`` in the feed, by subject, checked against the
    event read by its id."""
    r = await client.get("/v1/events", params={"types": types}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    found = {}
    for event in r.json()["data"]:
        one = await client.get(f"/v1/events/{event['id']}", headers=tenant.headers)
        assert one.status_code == 200, one.text
        assert one.json() == event
        found[event["subject"]] = event["data"]
    return found


async def test_created_events_read_as_emitted_after_their_rows_change(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    await kit.rule(
        program,
        name="10% held 14 days",
        reward={"type": "percentage", "percent": "10", "cap": "30.00"},
        hold_days=14,
    )
    await kit.rule(
        program,
        name="5 EUR to the friend at once",
        reward={"type": "fixed", "amount": "5.00"},
        beneficiary="referred_customer",
    )
    coffee = await kit.post(
        "/v1/programs", {"kind": "stamps", "name": "Coffee", "currency": "EUR", "settings": CARD}
    )
    ada = await kit.promoter(program)
    bought = await kit.purchase(
        external_id="order-1", customer={"source_id": "bob"}, amount="120.00", code=code_of(ada)
    )
    assert sorted(r["status"] for r in bought["rewards"]) == ["approved", "pending"]

    # Stored without their data; every other event keeps its own.
    entries = await _bodies(db, tenant.workspace_id)
    by_reference = [(e[0], e[2]) for e in entries if e[4] is None]
    stamps = [e[2] for e in entries if e[0] == "qualifying_purchase.created"]
    assert sorted(by_reference) == sorted(
        [("reward.created", r["id"]) for r in bought["rewards"]]
        + [("qualifying_purchase.created", s) for s in stamps]
        + [("referral.created", bought["referral_id"])]
    )
    assert len(stamps) == 1
    assert all(isinstance(e[4], dict) for e in entries if e[0] not in refs.BY_REFERENCE)
    # A purchase's keeps what its row does not hold: the type prefix it was emitted with.
    assert [(e[2], e[4]) for e in entries if e[0] == "purchase.created"] == [
        (bought["id"], ["goodwill"])
    ]
    # Their context attributes are rendered from the rows too.
    assert all(e[3] is None for e in entries if not isinstance(e[4], dict))
    referral_program = {"program_id": program["id"], "promoter_id": ada["id"]}
    attributes = {e.subject: e.attributes for e in await stored_events(db, tenant.workspace_id)}
    assert attributes == {
        bought["id"]: referral_program,
        bought["referral_id"]: referral_program,
        **{r["id"]: referral_program for r in bought["rewards"]},
        stamps[0]: {"program_id": coffee["id"]},
        bought["customer_id"]: {},
    }

    # What the events held when they were stored whole: each reward row, as it is now.
    async with db.transaction(write=False) as session:
        created = {
            r["id"]: to_builtins(RewardOut.of(await session.get_one(Reward, uuid.UUID(r["id"]))))
            for r in bought["rewards"]
        }
        referral = await session.get_one(Referral, uuid.UUID(bought["referral_id"]))
        made = to_builtins(ReferralOut.of(referral))
    assert made["customer_id"] == bought["customer_id"]
    assert {k: json.loads(json_bytes(v)) for k, v in created.items()} == {
        r["id"]: r | {n: f"{r[n]:.2f}" for n in ("amount", "reversed", "net")}
        for r in bought["rewards"]
    }
    stamp = {
        "qualifying_purchase_id": stamps[0],
        "loyalty_program_id": coffee["id"],
        "transaction_id": bought["id"],
        "transaction_ref": "order-1",
        "created_at": bought["created_at"],
    }
    purchase_created = {
        "@entity": "goodwill.purchase",
        "trigger_type": "purchase",
        "purchase_id": bought["id"],
        "contact_id": bought["customer_id"],
        "promoter_id": ada["id"],
        "link_id": bought["link_id"],
        "item_id": None,
        "amount": 120,
        "created_at": bought["created_at"],
        "updated_at": bought["created_at"],
    }
    read = "purchase.created,reward.created,qualifying_purchase.created,referral.created"
    before = await _as_read(client, tenant, read)
    assert before == {k: json.loads(json_bytes(v)) for k, v in created.items()} | {
        stamps[0]: stamp,
        bought["referral_id"]: json.loads(json_bytes(made)),
        bought["id"]: purchase_created,
    }
    assert list(before[bought["id"]]) == list(purchase_created)  # seed 000's field order
    stored = {e.subject: e.data for e in await stored_events(db, tenant.workspace_id)}
    assert {k: stored[k] for k in created} == created
    assert stored[bought["referral_id"]] == made

    # Every column those rows may change, changed: a reward approved early, the other voided,
    # a refund reversing the purchase and voiding its stamp; and the workspace's type prefix.
    pending = next(r for r in bought["rewards"] if r["status"] == "pending")
    approved = next(r for r in bought["rewards"] if r["status"] == "approved")
    clock.advance(days=1)
    await kit.post(f"/v1/rewards/{pending['id']}/approve", {}, 200)
    await kit.refund(bought["id"], amount="120.00")
    await kit.patch("/v1/workspace", {"event_type_prefix": "shop"}, 200)
    refunded = await kit.get(f"/v1/purchases/{bought['id']}")
    assert (refunded["status"], refunded["updated_at"]) != ("completed", bought["updated_at"])
    now = await kit.get(f"/v1/rewards/{approved['id']}")
    assert now["status"] == "voided"
    assert now != created[approved["id"]]
    voided = await _bodies(db, tenant.workspace_id)
    assert any(e[0] == "qualifying_purchase.voided" for e in voided)

    after = await _as_read(client, tenant, read)
    assert after == before


async def test_a_reference_to_a_row_of_another_workspace_is_refused(
    client: AsyncClient, tenant: Tenant, other_tenant: Tenant, db: Database
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    await kit.rule(program, reward={"type": "fixed", "amount": "1.00"})
    ada = await kit.promoter(program)
    bought = await kit.purchase(external_id="o", amount="10.00", code=code_of(ada))
    [reward] = bought["rewards"]
    forged = EventGroup(
        id=uuid.uuid4(),
        workspace_id=other_tenant.workspace_id,
        body=[["reward.created", "urn:test", reward["id"], {}, None]],
    )
    async with db.transaction(write=False) as session:
        with pytest.raises(LookupError, match=reward["id"]):
            await refs.render(session, [forged])
        mine = EventGroup(
            id=uuid.uuid4(),
            workspace_id=tenant.workspace_id,
            body=[["reward.created", "urn:test", reward["id"], {}, None]],
        )
        rendered = await refs.render(session, [mine])
    assert list(rendered) == [("reward.created", reward["id"])]
    made, attributes = rendered["reward.created", reward["id"]]
    data = json.loads(json_bytes(made))
    assert data == reward | {"amount": "1.00", "reversed": "0.00", "net": "1.00"}
    assert attributes == {"program_id": program["id"], "promoter_id": ada["id"]}


async def test_only_the_types_rendered_from_rows_may_leave_their_data_out(
    tenant: Tenant, db: Database, clock: FakeClock
) -> None:
    async with db.transaction() as session:
        with pytest.raises(ValueError, match=r"customer\.created events carry their data"):
            await emit(
                session,
                workspace_id=tenant.workspace_id,
                type="customer.created",
                source="urn:test",
                subject="s",
                data=None,
                now=clock.now,
            )
    assert await _bodies(db, tenant.workspace_id) == []


async def test_an_event_rendered_from_its_row_takes_no_attributes_of_its_own(
    tenant: Tenant, db: Database, clock: FakeClock
) -> None:
    async with db.transaction() as session:
        with pytest.raises(ValueError, match="render their attributes"):
            await emit(
                session,
                workspace_id=tenant.workspace_id,
                type="reward.created",
                source="urn:test",
                subject=uuid.uuid4(),
                data=None,
                now=clock.now,
                attributes={"program_id": "p"},
            )
    assert await _bodies(db, tenant.workspace_id) == []
