"""Rows of several tables inserted together (``Raw.insert``, goodwill.db.raw.together): on
PostgreSQL one statement, one round trip, whatever the tables and rows; every row lands as the
per-row statements would have written it; a part may reference another part's rows; a bad row
refuses the whole write; a write too large for one statement still lands whole."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from goodwill.db import Database
from goodwill.db.packed import pack, unpack
from goodwill.db.raw import Sql, insert_into, raw, together
from goodwill.events.models import EventGroup
from goodwill.events.service import EVENTS
from goodwill.ids import new_id
from goodwill.webhooks.fanout import delivery_row
from goodwill.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.conftest import Tenant, count_rows
from tests.db.test_raw import endpoint

EVENT = insert_into(EVENTS)
DELIVERY = insert_into(WebhookDelivery.__table__)  # type: ignore[arg-type]
ENDPOINT = insert_into(WebhookEndpoint.__table__)  # type: ignore[arg-type]
NOW = datetime(2026, 12, 2, 23, 0, 0, 123456, tzinfo=UTC)


def event(tenant: Tenant, n: int) -> dict[str, Any]:
    return {
        "id": new_id(),
        "workspace_id": tenant.workspace_id,
        "body": pack(
            [["reward.created", "urn:test", str(n), {"programid": "p"}, {"n": n, "note": "é'\"$1"}]]
        ),
        "txid": None,
        "created_at": NOW,
    }


class Counting:
    """The driver connection, counting the statements sent through it."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.sent: list[str] = []

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._conn, name)
        if name in {"execute", "executemany", "fetch", "fetchrow"}:

            async def counted(text: str, *args: Any) -> Any:
                self.sent.append(text)
                return await found(text, *args)

            return counted
        return found


async def events_for_a_webhook(
    db: Database, tenant: Tenant, count: int
) -> tuple[uuid.UUID, list[dict[str, Any]], list[dict[str, Any]]]:
    """A new webhook endpoint, ``count`` event rows and their deliveries to it."""
    values = endpoint(tenant, enabled=True)
    async with db.transaction() as session:
        await (await raw(session)).run(ENDPOINT, **values)
    webhook = uuid.UUID(str(values["id"]))
    events = [event(tenant, n) for n in range(count)]
    deliveries = [delivery_row(tenant.workspace_id, webhook, e["id"], NOW) for e in events]
    return webhook, events, deliveries


Parts = tuple[tuple[Sql, list[dict[str, Any]]], ...]


async def inserted(db: Database, *calls: Parts) -> list[str] | None:
    """Each call's parts given to ``Raw.insert``, in one transaction; the statements sent to
    PostgreSQL for them (None on SQLite, which has no round trips)."""
    async with db.transaction() as session:
        sql = await raw(session)
        counting = None
        if sql.dialect == "postgresql":
            counting = sql._conn = Counting(sql._conn)  # type: ignore[attr-defined]
        for parts in calls:
            await sql.insert(*parts)
    return None if counting is None else counting.sent


async def test_the_text_puts_every_part_and_row_in_one_statement() -> None:
    first = Sql("INSERT INTO a (x, y) VALUES (:x, coalesce(:y, now())) ON CONFLICT DO NOTHING")
    second = Sql("INSERT INTO b (z) VALUES (:z::text)")
    assert together(((first, 2), (second, 1))) == (
        "WITH w0 AS (INSERT INTO a (x, y) VALUES ($1, coalesce($2, now())), "
        "($3, coalesce($4, now())) ON CONFLICT DO NOTHING) "
        "INSERT INTO b (z) VALUES ($5::text)"
    )
    assert together(((second, 1),)) == "INSERT INTO b (z) VALUES ($1::text)"
    with pytest.raises(ValueError, match="not an INSERT"):
        together(((Sql("UPDATE a SET x = :x"), 1),))


async def test_events_and_their_deliveries_land_together_in_one_round_trip(
    db: Database, tenant: Tenant
) -> None:
    webhook, events, deliveries = await events_for_a_webhook(db, tenant, 3)
    sent = await inserted(
        db,
        ((EVENT, events), (Sql("INSERT INTO x (a) VALUES (:a)"), [])),
        ((EVENT, []), (DELIVERY, deliveries)),
    )
    if sent is not None:
        assert len(sent) == 2  # one statement for each call, none for empty parts
    async with db.transaction(write=False) as session:
        stored = (
            await session.scalars(
                select(EventGroup).where(EventGroup.workspace_id == tenant.workspace_id)
            )
        ).all()
        delivered = (
            await session.scalars(
                select(WebhookDelivery).where(WebhookDelivery.workspace_id == tenant.workspace_id)
            )
        ).all()
    assert sorted((e.id, e.body) for e in stored) == sorted(
        (e["id"], unpack(e["body"])) for e in events
    )
    assert {e.created_at for e in stored} == {NOW}
    assert sorted(d.event_id for d in delivered) == sorted(e["id"] for e in events)
    assert {d.endpoint_id for d in delivered} == {webhook}


async def test_a_part_may_reference_rows_of_another_part_of_the_same_statement(
    db: Database, tenant: Tenant
) -> None:
    _, events, deliveries = await events_for_a_webhook(db, tenant, 2)
    sent = await inserted(db, ((EVENT, events), (DELIVERY, deliveries)))
    if sent is not None:
        assert len(sent) == 1
        assert sent[0].startswith('WITH w0 AS (INSERT INTO "events"')
    assert await count_rows(db, "webhook_deliveries", tenant.workspace_id) == 2


async def test_one_bad_row_refuses_the_whole_write(db: Database, tenant: Tenant) -> None:
    _, events, deliveries = await events_for_a_webhook(db, tenant, 2)
    # No such endpoint.
    deliveries.append(delivery_row(tenant.workspace_id, new_id(), events[0]["id"], NOW))
    # The driver's own error: sqlite3's IntegrityError, asyncpg's ForeignKeyViolationError.
    with pytest.raises(Exception, match=r"(?i)foreign key") as refused:
        async with db.transaction() as session:
            await (await raw(session)).insert((EVENT, events), (DELIVERY, deliveries))
    assert type(refused.value).__name__ in {"IntegrityError", "ForeignKeyViolationError"}
    assert await count_rows(db, "events", tenant.workspace_id) == 0
    assert await count_rows(db, "webhook_deliveries", tenant.workspace_id) == 0


async def test_a_write_too_large_for_one_statement_lands_whole(
    db: Database, tenant: Tenant
) -> None:
    events = [event(tenant, n) for n in range(4000)]  # 36,000 parameters: over 32,767
    async with db.transaction() as session:
        await (await raw(session)).insert((EVENT, events))
    assert await count_rows(db, "events", tenant.workspace_id) == 4000
