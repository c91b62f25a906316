"""Seed 001 at the service level: a stamp is created by a purchase, voided by a refund, redeemed,
and unredeemed by a reversal, each with its event in the seed's exact data shape."""

from __future__ import annotations

import uuid

from goodwill.db import Database
from goodwill.loyalty import queries, redemptions
from goodwill.loyalty.models import QualifyingPurchase
from goodwill.loyalty.schemas import CustomerRef, RedemptionCreate
from goodwill.loyalty.service import record_refund
from tests.conftest import FakeClock, Tenant, count_rows
from tests.loyalty.helpers import (
    SOURCE,
    events_of,
    item,
    make_customer,
    make_program,
    purchase,
    record_purchase,
)

SETTINGS = {
    "stamps_required": 2,
    "reward": {"description": "A free coffee"},
    "conditions": {"field": "amount", "op": "gte", "value": "3.00"},
}


async def test_seed_001_lifecycle(db: Database, tenant: Tenant, clock: FakeClock) -> None:
    ws = tenant.workspace_id
    program = await make_program(db, ws, "stamps", SETTINGS, now=clock())
    customer = await make_customer(db, ws, now=clock())
    bought = [
        purchase(customer.id, "4.50", external_id="txn_98765"),
        purchase(customer.id, "3.00", external_id="txn_98766"),
        purchase(customer.id, "5.00", external_id="txn_98767"),
    ]

    # created
    t_created = clock.advance(minutes=1)
    async with db.transaction() as session:
        outcomes = [
            await record_purchase(session, ws, p, now=clock(), source=SOURCE) for p in bought
        ]
    qp = [o.stamps_created[0].qualifying_purchase_id for o in outcomes]
    created = await events_of(db, ws, "qualifying_purchase.")
    assert [e.type for e in created] == ["qualifying_purchase.created"] * 3
    assert created[0].data == {
        "qualifying_purchase_id": str(qp[0]),
        "loyalty_program_id": str(program.id),
        "transaction_id": str(bought[0].purchase_id),
        "transaction_ref": "txn_98765",
        "created_at": "2026-04-06T06:24:54.793Z",
    }
    assert created[0].subject == str(qp[0])
    assert created[0].source == SOURCE
    assert created[0].created_at == t_created

    # voided by a refund
    clock.advance(days=2)
    async with db.transaction() as session:
        outcome = await record_refund(
            session,
            ws,
            bought[1],
            refunded_minor_total=300,
            fully_refunded=True,
            now=clock(),
            source="urn:POST:/refunds",
        )
    assert [c.qualifying_purchase_id for c in outcome.stamps_voided] == [qp[1]]
    voided = (await events_of(db, ws, "qualifying_purchase.voided"))[0]
    assert voided.data == {
        "qualifying_purchase_id": str(qp[1]),
        "loyalty_program_id": str(program.id),
        "transaction_id": str(bought[1].purchase_id),
        "transaction_ref": "txn_98766",
        "voided_at": "2026-04-08T06:24:54.793Z",
    }
    assert voided.source == "urn:POST:/refunds"

    # redeemed: the two stamps still available, oldest first
    clock.advance(hours=3)
    async with db.transaction() as session:
        redemption, created_now = await redemptions.redeem(
            session,
            ws,
            RedemptionCreate(
                program_id=program.id,
                customer=CustomerRef(source_id="cust-1"),
                external_id="order-77",
            ),
            clock(),
            "urn:POST:/redemptions",
        )
    assert created_now
    assert redemption.qualifying_purchase_ids == [str(qp[0]), str(qp[2])]
    redeemed = await events_of(db, ws, "qualifying_purchase.redeemed")
    assert [e.data for e in redeemed] == [
        {
            "qualifying_purchase_id": str(qp[i]),
            "loyalty_program_id": str(program.id),
            "transaction_id": str(bought[i].purchase_id),
            "transaction_ref": bought[i].external_id,
            "redeemed_at": "2026-04-08T09:24:54.793Z",
        }
        for i in (0, 2)
    ]

    # unredeemed by a reversal: exactly the common fields, no time
    clock.advance(days=1)
    async with db.transaction() as session:
        reversed_ = await redemptions.reverse(
            session, ws, redemption.id, clock(), "urn:POST:/redemptions/{id}/reversal"
        )
    assert reversed_.status == "reversed"
    unredeemed = await events_of(db, ws, "qualifying_purchase.unredeemed")
    assert [e.data for e in unredeemed] == [
        {
            "qualifying_purchase_id": str(qp[i]),
            "loyalty_program_id": str(program.id),
            "transaction_id": str(bought[i].purchase_id),
            "transaction_ref": bought[i].external_id,
        }
        for i in (0, 2)
    ]
    types = [e.type for e in await events_of(db, ws) if not e.type.startswith("customer.")]
    assert types == [
        *["qualifying_purchase.created"] * 3,
        "qualifying_purchase.voided",
        "qualifying_purchase.redeemed",
        "qualifying_purchase.redeemed",
        "redemption.created",
        "qualifying_purchase.unredeemed",
        "qualifying_purchase.unredeemed",
        "redemption.reversed",
    ]
    # the unredeemed stamps are available again and can be redeemed anew
    clock.advance(minutes=1)
    async with db.transaction() as session:
        again, _ = await redemptions.redeem(
            session,
            ws,
            RedemptionCreate(
                program_id=program.id, customer=CustomerRef(id=customer.id), external_id="o-78"
            ),
            clock(),
            "urn:POST:/redemptions",
        )
    assert again.qualifying_purchase_ids == [str(qp[0]), str(qp[2])]


async def test_a_replayed_purchase_or_refund_adds_nothing(
    db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    ws = tenant.workspace_id
    await make_program(db, ws, "stamps", SETTINGS, now=clock())
    customer = await make_customer(db, ws, now=clock())
    p = purchase(customer.id, "4.00")
    for _ in range(2):
        async with db.transaction() as session:
            outcome = await record_purchase(session, ws, p, now=clock(), source=SOURCE)
    assert outcome.stamps_created == []
    assert await count_rows(db, "qualifying_purchases", ws) == 1
    for _ in range(2):
        async with db.transaction() as session:
            outcome = await record_refund(
                session,
                ws,
                p,
                refunded_minor_total=400,
                fully_refunded=True,
                now=clock(),
                source=SOURCE,
            )
    assert outcome.stamps_voided == []
    assert len(await events_of(db, ws, "qualifying_purchase.")) == 2


async def test_paused_archived_and_other_currency_programs_record_nothing(
    db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    ws = tenant.workspace_id
    paused = await make_program(db, ws, "stamps", SETTINGS, status="paused", now=clock())
    usd = await make_program(db, ws, "stamps", SETTINGS, currency="USD", now=clock())
    customer = await make_customer(db, ws, now=clock())
    async with db.transaction() as session:
        outcome = await record_purchase(
            session, ws, purchase(customer.id, "9.00"), now=clock(), source=SOURCE
        )
    assert outcome.stamps_created == []
    assert paused.id not in outcome.skipped  # not even considered
    assert outcome.skipped[usd.id] == "the purchase is in EUR, the program in USD"
    assert await count_rows(db, "qualifying_purchases", ws) == 0
    assert await count_rows(db, "loyalty_cards", ws) == 0
    assert await events_of(db, ws, "qualifying_purchase.") == []


async def test_partial_refunds_void_per_item_stamps_by_the_documented_rule(
    db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    ws = tenant.workspace_id
    await make_program(
        db,
        ws,
        "stamps",
        {**SETTINGS, "conditions": None, "stamps_per_purchase": "per_item"},
        now=clock(),
    )
    customer = await make_customer(db, ws, now=clock())
    p = purchase(customer.id, "12.00", items=(item("12.00", quantity=4),))
    async with db.transaction() as session:
        outcome = await record_purchase(session, ws, p, now=clock(), source=SOURCE)
    assert len(outcome.stamps_created) == 4
    voided_counts = []
    for refunded in (300, 300, 599, 1200):
        async with db.transaction() as session:
            outcome = await record_refund(
                session,
                ws,
                p,
                refunded_minor_total=refunded,
                fully_refunded=refunded == 1200,
                now=clock.advance(minutes=1),
                source=SOURCE,
            )
        voided_counts.append(len(outcome.stamps_voided))
    # 3 of 4 kept at 3.00 refunded; again the same total: nothing; 5.99: 2 kept; all: none
    assert voided_counts == [1, 0, 1, 2]
    voided = await events_of(db, ws, "qualifying_purchase.voided")
    indexes = []
    async with db.transaction(write=False) as session:
        for e in voided:
            row = await session.get(QualifyingPurchase, uuid.UUID(e.subject))
            assert row is not None
            indexes.append(row.stamp_index)
    assert indexes == [3, 2, 1, 0]  # the latest stamps go first


async def test_refund_after_redemption_voids_and_a_reversal_does_not_revive(
    db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    ws = tenant.workspace_id
    program = await make_program(db, ws, "stamps", {**SETTINGS, "stamps_required": 1}, now=clock())
    customer = await make_customer(db, ws, now=clock())
    first, second = purchase(customer.id, "4.00"), purchase(customer.id, "4.00")
    async with db.transaction() as session:
        await record_purchase(session, ws, first, now=clock(), source=SOURCE)
        await record_purchase(session, ws, second, now=clock(), source=SOURCE)
        redemption, _ = await redemptions.redeem(
            session,
            ws,
            RedemptionCreate(
                program_id=program.id, customer=CustomerRef(id=customer.id), external_id="r1"
            ),
            clock.advance(minutes=1),
            SOURCE,
        )
    async with db.transaction() as session:
        outcome = await record_refund(
            session,
            ws,
            first,
            refunded_minor_total=400,
            fully_refunded=True,
            now=clock.advance(minutes=1),
            source=SOURCE,
        )
        assert len(outcome.stamps_voided) == 1  # the redeemed stamp stops counting
        await redemptions.reverse(session, ws, redemption.id, clock.advance(minutes=1), SOURCE)
    assert await events_of(db, ws, "qualifying_purchase.unredeemed") == []
    async with db.transaction(write=False) as session:
        prog, card = await queries.find_card(session, ws, program.id, customer.id)
        assert card is not None
        out = await queries.card_out(session, prog, card, clock())
    assert out.stamps is not None
    assert (out.stamps.collected, out.stamps.available, out.stamps.voided) == (2, 1, 1)
    assert out.stamps.redeemed == 0
