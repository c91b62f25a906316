"""A card is made on first use, once per customer and program, with a code nobody else holds."""

from __future__ import annotations

import asyncio

import pytest

from goodwill.customers import service as customers
from goodwill.customers.schemas import CustomerUpsert
from goodwill.db import Database
from goodwill.loyalty import cards
from tests.conftest import FakeClock, Tenant
from tests.loyalty.helpers import COFFEE_CARD, make_customer, make_program


async def test_a_code_already_taken_is_drawn_again(
    db: Database, tenant: Tenant, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    program = await make_program(db, tenant.workspace_id, "stamps", COFFEE_CARD, now=clock())
    ann = await make_customer(db, tenant.workspace_id, "ann", now=clock())
    bob = await make_customer(db, tenant.workspace_id, "bob", now=clock())
    async with db.transaction() as session:
        first = await cards.ensure_card(session, tenant.workspace_id, program.id, ann.id, clock())
    draws = iter([first.code, first.code, "FRESHCODE123"])
    monkeypatch.setattr(cards, "random_code", lambda _length: next(draws))
    async with db.transaction() as session:
        second = await cards.ensure_card(session, tenant.workspace_id, program.id, bob.id, clock())
    assert second.code == "FRESHCODE123"
    assert second.customer_id == bob.id
    async with db.transaction() as session:
        again = await cards.ensure_card(session, tenant.workspace_id, program.id, bob.id, clock())
        by_code = await cards.CardRepository(session, tenant.workspace_id).by_code("FRESHCODE123")
    assert (again.id, again.code, again.created_at) == (second.id, second.code, second.created_at)
    assert by_code is not None
    assert by_code.id == second.id


async def test_concurrent_first_uses_make_one_card(
    db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    program = await make_program(db, tenant.workspace_id, "stamps", COFFEE_CARD, now=clock())
    ann = await make_customer(db, tenant.workspace_id, "ann", now=clock())

    async def first_use() -> tuple[object, str]:
        async with db.transaction() as session:
            card = await cards.ensure_card(
                session, tenant.workspace_id, program.id, ann.id, clock()
            )
            return card.id, card.code

    made = await asyncio.gather(*(first_use() for _ in range(6)))
    assert len(set(made)) == 1


async def test_a_customer_created_in_the_transaction_gets_its_card_without_a_lookup(
    db: Database, tenant: Tenant, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing can hold a card for a customer this transaction created: the card is inserted
    straight away; asking again in the same transaction finds that card, not a second one."""
    program = await make_program(db, tenant.workspace_id, "stamps", COFFEE_CARD, now=clock())
    reads: list[object] = []
    real_raw = cards.raw

    async def counting_raw(session: object) -> object:
        db_ = await real_raw(session)  # type: ignore[arg-type]

        class Spy:
            def __getattr__(self, name: str) -> object:
                return getattr(db_, name)

            async def one(self, sql: object, **params: object) -> object:
                if sql is cards._CARD:
                    reads.append(params["customer_id"])
                return await db_.one(sql, **params)  # type: ignore[arg-type]

        return Spy()

    monkeypatch.setattr(cards, "raw", counting_raw)
    async with db.transaction() as session:
        carl, created = await customers.upsert(
            session, tenant.workspace_id, CustomerUpsert(source_id="carl"), clock(), "urn:test"
        )
        assert created
        card = await cards.ensure_card(session, tenant.workspace_id, program.id, carl.id, clock())
        assert reads == []
        again = await cards.ensure_card(session, tenant.workspace_id, program.id, carl.id, clock())
    assert (again.id, again.code) == (card.id, card.code)
    assert reads == [carl.id]  # the second time: the insert met the first card, then read it
    ann = await make_customer(db, tenant.workspace_id, "ann", now=clock())
    async with db.transaction() as session:
        await cards.ensure_card(session, tenant.workspace_id, program.id, ann.id, clock())
    assert reads[-1] == ann.id  # an existing customer's card is looked up first
