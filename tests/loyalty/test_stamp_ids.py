"""A new purchase's stamps take ids made of its own (``goodwill.loyalty.stamps.stamp_id``,
migration 0026): the primary key refuses them written twice, a purchase's stamps are found
through its customer's cards, and a purchase recorded again adds only the stamps it lacks."""

from __future__ import annotations

import sqlite3
import uuid

import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from goodwill.db import Database
from goodwill.ids import new_id
from goodwill.loyalty import stamps
from goodwill.loyalty.cards import ensure_card
from goodwill.loyalty.facts import StampChange
from goodwill.loyalty.models import QualifyingPurchase
from goodwill.loyalty.service import record_refund
from tests.conftest import BACKEND, FakeClock, Tenant, count_rows
from tests.db.test_partial_indexes import plan_of_sent
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
    "stamps_required": 3,
    "stamps_per_purchase": "per_item",
    "reward": {"description": "free"},
}


@given(st.lists(st.integers(0, 2**32 - 2), min_size=2, max_size=2, unique=True))
def test_a_stamp_id_is_a_uuid7_that_sorts_as_its_purchase_and_differs_from_its_others(
    ordinals: list[int],
) -> None:
    purchase_id, later = new_id(), new_id()
    made = [stamps.stamp_id(purchase_id, n) for n in ordinals]
    assert made[0] == stamps.stamp_id(purchase_id, ordinals[0])
    assert made[0] != made[1]
    assert {(m.version, m.variant) for m in made} == {(7, uuid.RFC_4122)}
    assert {m.int >> 32 for m in made} == {purchase_id.int >> 32}  # time, version, counter
    assert purchase_id not in made
    assert max(made) < min(stamps.stamp_id(later, n) for n in ordinals)


async def test_a_purchase_recorded_again_keeps_its_stamps_also_those_with_ids_of_their_own(
    db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    """A stamp written before 0026 has a random UUIDv7: recording its purchase adds only the
    stamps it lacks, and its refund finds and voids them all."""
    ws = tenant.workspace_id
    program = await make_program(db, ws, "stamps", SETTINGS, now=clock())
    customer = await make_customer(db, ws, now=clock())
    p = purchase(customer.id, "6.00", items=(item("6.00", quantity=2),))
    older = new_id()  # as a stamp written before 0026 is named
    async with db.transaction() as session:
        card = await ensure_card(session, ws, program.id, customer.id, clock())
        session.add(
            QualifyingPurchase(
                id=older,
                workspace_id=ws,
                program_id=program.id,
                card_id=card.id,
                purchase_id=p.purchase_id,
                stamp_index=0,
                status="created",
                created_at=clock(),
            )
        )
    async with db.transaction() as session:
        outcome = await record_purchase(session, ws, p, now=clock(), source=SOURCE)
    (made,) = [c.qualifying_purchase_id for c in outcome.stamps_created]
    async with db.transaction(write=False) as session:
        assert (await session.get(QualifyingPurchase, made)).stamp_index == 1  # type: ignore[union-attr]
    async with db.transaction() as session:
        outcome = await record_purchase(session, ws, p, now=clock(), source=SOURCE)
    assert outcome.stamps_created == []
    assert await count_rows(db, "qualifying_purchases", ws) == 2

    async with db.transaction() as session:
        refunded = await record_refund(
            session,
            ws,
            p,
            refunded_minor_total=600,
            fully_refunded=True,
            now=clock(),
            source=SOURCE,
        )
    voided = sorted(c.qualifying_purchase_id for c in refunded.stamps_voided)
    assert voided == sorted([older, made])
    async with db.transaction(write=False) as session:
        listed = await stamps.stamps_of_purchase(session, ws, p)
    assert sorted((s.id, s.status) for s in listed) == [(i, "voided") for i in voided]


async def test_a_purchases_stamps_are_read_through_its_customers_cards(
    db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    """The refund's lookup reads the cards' ``(program_id, customer_id)`` index and the
    stamps' index by card: neither table is scanned."""
    ws = tenant.workspace_id
    await make_program(db, ws, "stamps", SETTINGS, now=clock())
    customer = await make_customer(db, ws, now=clock())
    p = purchase(customer.id, "4.00")

    async def refund_lookup() -> None:
        async with db.transaction() as session:
            assert await stamps.stamps_of_purchase(session, ws, p) == []

    plan = await plan_of_sent(db, "FROM qualifying_purchases", refund_lookup)
    assert "ix_qualifying_purchases_card_id" in plan, plan
    if BACKEND == "sqlite":
        assert "SCAN qualifying_purchases" not in plan, plan
        assert "SCAN loyalty_cards" not in plan, plan
    else:
        assert "uq_loyalty_cards_program_id_customer_id" in plan, plan
        assert "Seq Scan on qualifying_purchases" not in plan, plan
        assert "Seq Scan on loyalty_cards" not in plan, plan


async def test_the_same_stamp_twice_is_refused_by_its_id(
    db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    """A new purchase's stamps are plain inserts (they go out with its events): the same
    stamps written again break the primary key, and that transaction changes nothing."""
    ws = tenant.workspace_id
    program = await make_program(db, ws, "stamps", SETTINGS, now=clock())
    customer = await make_customer(db, ws, now=clock())
    p = purchase(customer.id, "4.00", items=(item("4.00"),))
    async with db.transaction() as session:
        card = await ensure_card(session, ws, program.id, customer.id, clock())

    async def stamp() -> list[StampChange]:
        async with db.transaction() as session:
            return await stamps.add_stamps(
                session,
                ws,
                program_id=program.id,
                card_id=card.id,
                purchase=p,
                count=1,
                now=clock(),
                source=SOURCE,
                new_purchase=True,
            )

    assert [c.qualifying_purchase_id for c in await stamp()] == [stamps.stamp_id(p.purchase_id, 0)]
    with pytest.raises((sqlite3.IntegrityError, asyncpg.UniqueViolationError)) as broken:
        await stamp()
    if BACKEND == "sqlite":
        assert str(broken.value) == "UNIQUE constraint failed: qualifying_purchases.id"
    else:
        assert getattr(broken.value, "constraint_name", None) == "pk_qualifying_purchases"
    assert await count_rows(db, "qualifying_purchases", ws) == 1
    assert len(await events_of(db, ws, "qualifying_purchase.created")) == 1
