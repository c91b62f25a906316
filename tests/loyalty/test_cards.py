"""A card is made on first use, once per customer and program, with a code nobody else holds."""

from __future__ import annotations

import asyncio

import pytest

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
