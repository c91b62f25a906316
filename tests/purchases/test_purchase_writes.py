"""A new purchase writes its rewards, their ledger entries and its stamps with its events:
one ``Raw.insert`` when the transaction flushes its outbox (one statement on PostgreSQL), and
they land as before. A replay writes none of them again."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select

import goodwill.db.raw as raw_sql
from goodwill.db import Database
from goodwill.db.raw import Sql
from goodwill.loyalty.models import QualifyingPurchase
from tests.conftest import Tenant, count_rows
from tests.kit import Kit, code_of


def _table(sql: Sql) -> str:
    found = re.match(r'INSERT INTO "?(\w+)"?', sql.text)
    assert found is not None, sql.text
    return found.group(1)


async def test_a_new_purchase_s_rewards_and_stamps_go_out_with_its_events(
    client: AsyncClient, tenant: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    await kit.rule(program, name="10%", reward={"type": "percentage", "percent": "10"})
    await kit.rule(program, name="5 off", reward={"type": "fixed", "amount": "5.00"})
    await kit.post(
        "/v1/programs",
        {
            "kind": "stamps",
            "name": "Coffee card",
            "currency": "EUR",
            "settings": {"stamps_required": 9, "reward": {"description": "A free coffee"}},
        },
        201,
    )
    ada = await kit.promoter(program, name="Ada", email="ada@example.com")
    calls: list[list[tuple[str, int]]] = []
    for kind in (raw_sql._SQLiteRaw, raw_sql._PostgresRaw):
        real = kind.insert

        async def spy(
            self: Any, *parts: tuple[Sql, Sequence[Mapping[str, Any]]], _real: Any = real
        ) -> None:
            calls.append([(_table(sql), len(rows)) for sql, rows in parts if rows])
            await _real(self, *parts)

        monkeypatch.setattr(kind, "insert", spy)
    body = {"external_id": "o-1", "customer": {"source_id": "bob"}, "amount": "40.00"}
    first = await kit.purchase(**body, code=code_of(ada))
    assert len(first["rewards"]) == 2
    [written] = calls
    assert [table for table, _ in written] == [
        "rewards",
        "ledger_entries",
        "qualifying_purchases",
        "events",
    ]
    assert written[:3] == [("rewards", 2), ("ledger_entries", 2), ("qualifying_purchases", 1)]
    assert await count_rows(db, "rewards", tenant.workspace_id) == 2
    assert await count_rows(db, "ledger_entries", tenant.workspace_id) == 2
    assert await count_rows(db, "qualifying_purchases", tenant.workspace_id) == 1
    stamps = await kit.get(f"/v1/qualifying-purchases?purchase_id={first['id']}")
    assert [s["transaction_ref"] for s in stamps["data"]] == ["o-1"]
    promoter_rewards = await kit.get(f"/v1/rewards?promoter_id={ada['id']}")
    assert sorted(r["id"] for r in promoter_rewards["data"]) == sorted(
        r["id"] for r in first["rewards"]
    )

    calls.clear()
    again = await kit.purchase(**body, code=code_of(ada), expect=200)
    assert again["rewards"] == first["rewards"]
    assert calls == []  # a replay writes nothing
    assert await count_rows(db, "qualifying_purchases", tenant.workspace_id) == 1


async def test_a_returning_customer_s_cards_are_read_with_its_history(
    client: AsyncClient, tenant: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A known customer's cards in the loyalty programs come with its purchase count and
    referral: its card is not looked up again, a program it has no card in gets one without a
    lookup first, and each purchase stamps the right card."""
    kit = Kit(client, tenant)
    card = {"stamps_required": 9, "reward": {"description": "A free coffee"}}
    coffee = await kit.post(
        "/v1/programs",
        {"kind": "stamps", "name": "Coffee", "currency": "EUR", "settings": card},
        201,
    )
    reads: list[str] = []
    for kind in (raw_sql._SQLiteRaw, raw_sql._PostgresRaw):
        real = kind.one

        async def spy(self: Any, sql: Sql, _real: Any = real, **params: Any) -> Any:
            if sql.text.startswith("SELECT id, code, created_at FROM loyalty_cards"):
                reads.append("card")
            return await _real(self, sql, **params)

        monkeypatch.setattr(kind, "one", spy)
    body = {"customer": {"source_id": "bob"}, "amount": "4.00"}
    first = await kit.purchase(external_id="o-1", **body)
    assert reads == []  # a new customer has no card
    second = await kit.purchase(external_id="o-2", **body)
    assert reads == []  # known from the history
    tea = await kit.post(
        "/v1/programs", {"kind": "stamps", "name": "Tea", "currency": "EUR", "settings": card}, 201
    )
    third = await kit.purchase(external_id="o-3", **body)
    assert reads == []  # no card in Tea: made without a lookup
    async with db.transaction(write=False) as session:
        stamped = {
            (str(q.purchase_id), str(q.program_id)): q.card_id
            for q in await session.scalars(
                select(QualifyingPurchase).where(
                    QualifyingPurchase.workspace_id == tenant.workspace_id
                )
            )
        }
    coffee_card = stamped[(first["id"], coffee["id"])]
    assert stamped == {
        (first["id"], coffee["id"]): coffee_card,
        (second["id"], coffee["id"]): coffee_card,
        (third["id"], coffee["id"]): coffee_card,
        (third["id"], tea["id"]): stamped[(third["id"], tea["id"])],
    }
    assert stamped[(third["id"], tea["id"])] != coffee_card
    assert await count_rows(db, "loyalty_cards", tenant.workspace_id) == 2
