"""Points: earning, pending and expiry at their exact edges, first-in first-out, clawbacks."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from goodwill.db import Database
from goodwill.loyalty import points, redemptions
from goodwill.loyalty.cards import CardRepository
from goodwill.loyalty.models import LoyaltyCard, PointsEntry
from goodwill.loyalty.schemas import CustomerRef, RedemptionCreate
from goodwill.loyalty.service import record_refund
from goodwill.maintenance import expire_points_once
from goodwill.programs.models import Program
from tests.conftest import FakeClock, Tenant
from tests.loyalty.helpers import (
    SOURCE,
    events_of,
    make_customer,
    make_program,
    purchase,
    record_purchase,
)

MS = timedelta(milliseconds=1)
SETTINGS = {
    "earning_rules": [{"trigger": "purchase", "points_per_unit": "1"}],
    "pending_days": 14,
    "expiry_days": 365,
}


async def _card(db: Database, program: Program, customer_id: uuid.UUID) -> LoyaltyCard:
    async with db.transaction(write=False) as session:
        card = await CardRepository(session, program.workspace_id).for_customer(
            program.id, customer_id
        )
    assert card is not None
    return card


async def _balance(db: Database, card: LoyaltyCard, at: object) -> points.Balance:
    async with db.transaction(write=False) as session:
        return await points.balance(session, card.id, at)  # type: ignore[arg-type]


async def _entries(db: Database, card: LoyaltyCard) -> list[tuple[str, int]]:
    async with db.transaction(write=False) as session:
        rows = await session.execute(
            select(PointsEntry.kind, PointsEntry.points)
            .where(PointsEntry.card_id == card.id)
            .order_by(PointsEntry.id)
        )
        return [(k, int(p)) for k, p in rows.all()]


async def _buy(
    db: Database, ws: uuid.UUID, clock: FakeClock, customer_id: uuid.UUID, amount: str, **kw: object
):  # type: ignore[no-untyped-def]
    p = purchase(customer_id, amount, occurred_at=clock(), **kw)  # type: ignore[arg-type]
    async with db.transaction() as session:
        outcome = await record_purchase(session, ws, p, now=clock(), source=SOURCE)
    return p, outcome


async def test_pending_and_expiry_edges(db: Database, tenant: Tenant, clock: FakeClock) -> None:
    ws = tenant.workspace_id
    program = await make_program(db, ws, "points", SETTINGS, now=clock())
    customer = await make_customer(db, ws, now=clock())
    t0 = clock()
    _, outcome = await _buy(db, ws, clock, customer.id, "120.40")
    assert [c.points for c in outcome.points_earned] == [120]
    card = await _card(db, program, customer.id)

    b = await _balance(db, card, t0 + timedelta(days=14) - MS)
    assert (b.pending, b.available) == (120, 0)
    b = await _balance(db, card, t0 + timedelta(days=14))
    assert (b.pending, b.available) == (0, 120)

    expiry = t0 + timedelta(days=365)
    clock.now = expiry - MS
    assert await expire_points_once(db, clock) == 0
    b = await _balance(db, card, clock())
    assert (b.available, b.expired) == (120, 0)

    clock.now = expiry
    b = await _balance(db, card, clock())
    assert (b.available, b.expired) == (0, 120)  # expired at once, before the sweep
    assert await expire_points_once(db, clock) == 1
    assert await expire_points_once(db, clock) == 0
    b = await _balance(db, card, clock())
    assert (b.pending, b.available, b.expired, b.earned) == (0, 0, 120, 120)
    assert await _entries(db, card) == [("earn", 120), ("expire", -120)]

    earned, expired = await events_of(db, ws, "points.")
    assert earned.type == "points.earned"
    assert earned.data["points"] == 120
    assert earned.data["pending_until"] == "2026-04-20T06:23:54.793Z"
    assert earned.data["expires_at"] == "2027-04-06T06:23:54.793Z"
    assert earned.data["card_code"] == card.code
    assert expired.type == "points.expired"
    assert expired.data["points"] == -120
    assert expired.data["lot_id"] == earned.data["id"]
    assert expired.created_at == expiry
    assert expired.source == "urn:goodwill:points-expiry"  # made by Goodwill itself


async def test_late_purchases_count_from_when_they_happened(
    db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    ws = tenant.workspace_id
    program = await make_program(db, ws, "points", SETTINGS, now=clock())
    customer = await make_customer(db, ws, now=clock())
    p = purchase(customer.id, "10.00", occurred_at=clock() - timedelta(days=14))
    later = purchase(customer.id, "5.00", occurred_at=clock() + timedelta(days=1))
    async with db.transaction() as session:
        await record_purchase(session, ws, p, now=clock(), source=SOURCE)
        await record_purchase(session, ws, later, now=clock(), source=SOURCE)
    card = await _card(db, program, customer.id)
    b = await _balance(db, card, clock())
    assert (b.pending, b.available) == (5, 10)  # a future time counts as now
    b = await _balance(db, card, clock() + timedelta(days=14))
    assert (b.pending, b.available) == (0, 15)


async def test_spending_and_expiry_go_oldest_first(
    db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    ws = tenant.workspace_id
    settings = {**SETTINGS, "pending_days": 0, "expiry_days": 30}
    program = await make_program(db, ws, "points", settings, now=clock())
    customer = await make_customer(db, ws, now=clock())
    t0 = clock()
    await _buy(db, ws, clock, customer.id, "100.00")
    clock.advance(days=10)
    await _buy(db, ws, clock, customer.id, "50.00")
    card = await _card(db, program, customer.id)
    clock.advance(days=1)
    async with db.transaction() as session:
        await redemptions.redeem(
            session,
            ws,
            RedemptionCreate(
                program_id=program.id,
                customer=CustomerRef(id=customer.id),
                external_id="r1",
                points=120,
            ),
            clock(),
            SOURCE,
        )
    assert await _entries(db, card) == [
        ("earn", 100),
        ("earn", 50),
        ("redeem", -100),
        ("redeem", -20),
    ]
    clock.now = t0 + timedelta(days=30)
    assert await expire_points_once(db, clock) == 0  # the first lot is spent: nothing to expire
    clock.now = t0 + timedelta(days=40)
    assert await expire_points_once(db, clock) == 1
    b = await _balance(db, card, clock())
    assert (b.available, b.redeemed, b.expired) == (0, 120, 30)


async def test_refunds_claw_back_their_share(
    db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    ws = tenant.workspace_id
    program = await make_program(db, ws, "points", SETTINGS, now=clock())
    customer = await make_customer(db, ws, now=clock())
    p, _ = await _buy(db, ws, clock, customer.id, "100.00")
    card = await _card(db, program, customer.id)
    clawed = []
    for refunded, fully in ((3333, False), (3333, False), (5000, False), (9000, True)):
        async with db.transaction() as session:
            outcome = await record_refund(
                session,
                ws,
                p,
                refunded_minor_total=refunded,
                fully_refunded=fully,
                now=clock.advance(minutes=1),
                source="urn:POST:/refunds",
            )
        clawed.append([c.points for c in outcome.points_clawed_back])
    # 33.33 of 100.00 → 33 points; the same total again → nothing; 50.00 → 17 more; full → rest
    assert clawed == [[-33], [], [-17], [-50]]
    b = await _balance(db, card, clock())
    assert (b.pending, b.available, b.clawed_back, b.earned) == (0, 0, 100, 100)
    events = await events_of(db, ws, "points.clawed_back")
    assert [e.data["points"] for e in events] == [-33, -17, -50]
    assert all(e.data["purchase_id"] == str(p.purchase_id) for e in events)


async def test_clawback_of_spent_points_waits_for_their_return(
    db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    ws = tenant.workspace_id
    settings = {**SETTINGS, "pending_days": 0}
    program = await make_program(db, ws, "points", settings, now=clock())
    customer = await make_customer(db, ws, now=clock())
    p, _ = await _buy(db, ws, clock, customer.id, "100.00")
    card = await _card(db, program, customer.id)
    async with db.transaction() as session:
        redemption, _ = await redemptions.redeem(
            session,
            ws,
            RedemptionCreate(
                program_id=program.id,
                customer=CustomerRef(id=customer.id),
                external_id="r1",
                points=80,
            ),
            clock.advance(minutes=1),
            SOURCE,
        )
    async with db.transaction() as session:
        outcome = await record_refund(
            session,
            ws,
            p,
            refunded_minor_total=10000,
            fully_refunded=True,
            now=clock.advance(minutes=1),
            source=SOURCE,
        )
    assert [c.points for c in outcome.points_clawed_back] == [-20]  # what was left
    b = await _balance(db, card, clock())
    assert (b.available, b.redeemed, b.clawed_back) == (0, 80, 20)
    async with db.transaction() as session:
        await redemptions.reverse(session, ws, redemption.id, clock.advance(minutes=1), SOURCE)
    b = await _balance(db, card, clock())
    assert (b.available, b.redeemed, b.clawed_back) == (0, 0, 100)  # nothing to spend
    assert await _entries(db, card) == [
        ("earn", 100),
        ("redeem", -80),
        ("refund", -20),
        ("reverse", 80),
        ("refund", -80),
    ]


async def test_paused_programs_earn_nothing_but_refunds_still_claw_back(
    db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    ws = tenant.workspace_id
    program = await make_program(db, ws, "points", SETTINGS, now=clock())
    customer = await make_customer(db, ws, now=clock())
    p, _ = await _buy(db, ws, clock, customer.id, "10.00")
    async with db.transaction() as session:
        found = await session.get(Program, program.id)
        assert found is not None
        found.status = "paused"
    _, outcome = await _buy(db, ws, clock, customer.id, "10.00")
    assert outcome.points_earned == []
    async with db.transaction() as session:
        outcome = await record_refund(
            session,
            ws,
            p,
            refunded_minor_total=1000,
            fully_refunded=True,
            now=clock(),
            source=SOURCE,
        )
    assert [c.points for c in outcome.points_clawed_back] == [-10]
