"""A new purchase writes itself, its new referral, its rewards (each its own earned ledger
entry) and its stamps with its events:
one ``Raw.insert`` when the transaction flushes its outbox (one statement on PostgreSQL), and
they land as before. A replay writes none of them again."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import event, select

import goodwill.db.raw as raw_sql
from goodwill.db import Database
from goodwill.db.raw import Sql
from goodwill.loyalty.models import QualifyingPurchase
from goodwill.purchases import service
from goodwill.referrals import attribution
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
        "referrals",
        "purchases",
        "rewards",
        "qualifying_purchases",
        "events",
    ]
    assert written[:4] == [
        ("referrals", 1),
        ("purchases", 1),
        ("rewards", 2),
        ("qualifying_purchases", 1),
    ]
    assert await count_rows(db, "rewards", tenant.workspace_id) == 2
    # each reward is its own earned entry (goodwill.rewards.ledger): no row repeats it
    assert await count_rows(db, "ledger_entries", tenant.workspace_id) == 0
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


async def test_a_purchase_recorded_meanwhile_is_answered_as_its_replay(
    client: AsyncClient, tenant: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The purchase row goes out at the end of its transaction, so a concurrent first
    submission of the same external_id that committed after the replay check is found by the
    unique constraint: nothing of the attempt stays, and the request, run again, answers as
    that submission's replay. Here the check is made to miss once, as it does in that race."""
    kit = Kit(client, tenant)
    program = await kit.program()
    await kit.rule(program, name="10%", reward={"type": "percentage", "percent": "10"})
    ada = await kit.promoter(program, name="Ada", email="ada@example.com")
    body = {"external_id": "o-1", "customer": {"source_id": "bob"}, "amount": "40.00"}
    first = await kit.purchase(**body, code=code_of(ada))
    before = {
        table: await count_rows(db, table, tenant.workspace_id)
        for table in ("purchases", "rewards", "ledger_entries", "referrals", "events")
    }
    real = service._lookups
    looked: list[bool] = []

    async def blind_once(*args: Any, **kwargs: Any) -> Any:
        found = await real(*args, **kwargs)
        looked.append(found.recorded_fingerprint is not None)
        if len(looked) == 1:
            return dataclasses.replace(found, recorded_fingerprint=None)
        return found

    monkeypatch.setattr(service, "_lookups", blind_once)
    again = await kit.purchase(**body, code=code_of(ada), expect=200)
    assert looked == [True, True]  # the first attempt was told nothing was recorded
    assert again == first
    after = {table: await count_rows(db, table, tenant.workspace_id) for table in before}
    assert after == before


async def test_a_referral_made_meanwhile_is_the_one_the_purchase_gets(
    client: AsyncClient, tenant: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A customer referred by a concurrent request (a lead, here) after the purchase read its
    history: the purchase's new referral fails with its statement, and the request, run again,
    is attributed to the referral that won."""
    kit = Kit(client, tenant)
    program = await kit.program()
    await kit.rule(program, name="10%", reward={"type": "percentage", "percent": "10"})
    ada = await kit.promoter(program, name="Ada", email="ada@example.com")
    grace = await kit.promoter(program, name="Grace", email="grace@example.com")
    await kit.purchase(external_id="o-0", customer={"source_id": "bob"}, amount="1.00")
    lead = await kit.post(
        "/v1/leads", {"customer": {"source_id": "bob"}, "code": code_of(ada)}, 201
    )
    real = attribution.history_of
    calls: list[int] = []

    async def unreferred_once(*args: Any, **kwargs: Any) -> attribution.History:
        found = await real(*args, **kwargs)
        calls.append(1)
        if len(calls) == 1:
            return dataclasses.replace(found, referral=None)
        return found

    monkeypatch.setattr(attribution, "history_of", unreferred_once)
    bought = await kit.purchase(
        external_id="o-1", customer={"source_id": "bob"}, amount="40.00", code=code_of(grace)
    )
    assert len(calls) == 2
    assert bought["referral_id"] == lead["referral"]["id"]
    assert bought["promoter_id"] == ada["id"]
    assert await count_rows(db, "referrals", tenant.workspace_id) == 1
    assert await count_rows(db, "purchases", tenant.workspace_id) == 2


async def test_a_returning_customer_s_purchase_reads_twice_and_writes_once(
    client: AsyncClient, tenant: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the key: one statement reads the replay's fingerprint, the catalog, the link the
    purchase names (with its promoter) and the customer's row, locked on PostgreSQL
    (``attribution.open_``); one its history; one writes. Nothing through the ORM."""
    kit = Kit(client, tenant)
    program = await kit.program()
    await kit.rule(program, name="10%", reward={"type": "percentage", "percent": "10"})
    ada = await kit.promoter(program, name="Ada", email="ada@example.com")
    product = {"sku": "latte", "name": "Latte", "price": 4, "currency": "EUR"}
    await kit.post("/v1/products", product, 201)
    await kit.purchase(external_id="o-0", customer={"source_id": "bob"}, amount="1.00")
    r = await client.get(f"/r/{code_of(ada)}", follow_redirects=False)
    assert r.status_code == 302, r.text
    async with db.transaction(write=False) as session:
        reader = await raw_sql.raw(session)
        found = await reader.one(
            Sql("SELECT id FROM clicks WHERE workspace_id = :workspace_id"),
            workspace_id=tenant.workspace_id,
        )
        assert found is not None
        click_id = str(reader.uuid_of(found[0]))
    sent: list[str] = []

    def spying(real: Any) -> Any:
        async def spy(self: Any, *args: Any, **params: Any) -> Any:
            sent.append(args[0].text if isinstance(args[0], Sql) else "INSERT")
            return await real(self, *args, **params)

        return spy

    for kind in (raw_sql._SQLiteRaw, raw_sql._PostgresRaw):
        for name in ("one", "all", "run", "changed", "scalar", "insert"):
            monkeypatch.setattr(kind, name, spying(getattr(kind, name)))
    through_orm: list[str] = []

    def executed(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        through_orm.append(statement)

    touches = {
        "referral_links l JOIN promoters p ON p.id = l.promoter_id WHERE "
        "l.workspace_id = :workspace_id AND l.code = :code": {"code": code_of(ada)},
        "AND l.id = :link_id": {"link_id": ada["default_link"]["id"]},
        "FROM clicks c JOIN referral_links l": {"click_id": click_id},
        "": {},
    }
    lock = " FOR UPDATE" if db.dialect == "postgresql" else ""
    event.listen(db.engine.sync_engine, "before_cursor_execute", executed)
    try:
        for n, (touch, attribution_) in enumerate(touches.items()):
            sent.clear()
            await kit.purchase(
                external_id=f"o-{n + 1}",
                customer={"source_id": "bob"},
                amount="30.00",
                items=[{"item_id": "latte", "quantity": 1}, {"item_id": "scone", "quantity": 1}],
                **attribution_,
            )
            assert sent[0].startswith("SELECT k.id"), sent  # the key
            assert len(sent) == 4, sent
            opening, history, write = sent[1:]
            customer = "customers WHERE workspace_id = :workspace_id AND source_id = :source_id"
            assert f"{customer}{lock}) AS c" in opening
            assert touch in opening
            assert ("AS t" in opening) == bool(touch)
            assert "fingerprint FROM purchases" in opening
            assert "FROM products" in opening
            assert history.startswith("SELECT (SELECT count(*) FROM purchases")
            assert write == "INSERT"
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", executed)
    assert through_orm == []
    bought = await kit.get("/v1/purchases?limit=10")
    assert sorted(p["external_id"] for p in bought["data"]) == [f"o-{n}" for n in range(5)]
    assert {p["promoter_id"] for p in bought["data"] if p["external_id"] != "o-0"} == {ada["id"]}
