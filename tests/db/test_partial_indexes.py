"""The indexes on columns that are often NULL hold only the rows where they are set, and the
lookups they serve still use them (migrations 0016 and 0017, ``goodwill.db.base.index_of_set``);
so does the hold period's job, from the index of pending rewards (0017)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Result, event, text
from sqlalchemy.ext.asyncio import AsyncConnection

from goodwill.db import Database
from goodwill.rewards.service import approve_due
from tests.conftest import BACKEND

# table, index, column: every lookup these indexes serve asks for one value
PARTIAL = [
    ("rewards", "ix_rewards_customer_id", "customer_id"),
    ("rewards", "ix_rewards_referral_id", "referral_id"),
    ("purchases", "ix_purchases_promoter_id", "promoter_id"),
    ("qualifying_purchases", "ix_qualifying_purchases_redemption_id", "redemption_id"),
    ("points_entries", "ix_points_entries_redemption_id", "redemption_id"),
]


async def _definition(db: Database, index: str) -> str:
    async with db.transaction() as session:
        if BACKEND == "sqlite":
            query = "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name"
        else:
            query = "SELECT indexdef FROM pg_indexes WHERE indexname = :name"
        return str((await session.execute(text(query), {"name": index})).scalar_one())


Explained = Callable[[AsyncConnection, str], Awaitable[Result[Any]]]


async def _plan_of(db: Database, run: Explained) -> str:
    """The plan of the statement ``run(conn, explain)`` sends with ``explain`` before it."""
    async with db.transaction() as session:
        conn = await session.connection()
        if BACKEND == "postgresql":
            # The tables are empty here: without this the planner reads them instead.
            await conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        rows = await run(conn, "EXPLAIN QUERY PLAN" if BACKEND == "sqlite" else "EXPLAIN")
        return "\n".join(str(row[-1]) for row in rows)  # SQLite's detail, PostgreSQL's line


async def plan_of_sent(db: Database, needle: str, act: Callable[[], Awaitable[None]]) -> str:
    """The plan of the one statement containing ``needle`` that ``act()`` sends, as sent (its
    values bound), explained with those values."""
    sent: list[tuple[str, Any]] = []

    def capture(*args: Any) -> None:  # conn, cursor, statement, parameters, context, many
        statement, parameters = args[2], args[3]
        if needle in statement:
            sent.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    try:
        await act()
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", capture)
    ((statement, parameters),) = sent
    return await _plan_of(
        db, lambda conn, explain: conn.exec_driver_sql(f"{explain} {statement}", parameters)
    )


async def _plan(db: Database, table: str, column: str) -> str:
    value = uuid.uuid4().bytes if BACKEND == "sqlite" else uuid.uuid4()
    lookup = f"SELECT id FROM {table} WHERE {column} = :value"  # noqa: S608 - fixed names
    return await _plan_of(
        db, lambda conn, explain: conn.execute(text(f"{explain} {lookup}"), {"value": value})
    )


@pytest.mark.parametrize(("table", "index", "column"), PARTIAL)
async def test_the_index_holds_only_rows_with_a_value(
    db: Database, table: str, index: str, column: str
) -> None:
    definition = await _definition(db, index)
    assert f"WHERE ({column} IS NOT NULL)" in definition or (
        f"WHERE {column} IS NOT NULL" in definition
    ), definition


@pytest.mark.parametrize(("table", "index", "column"), PARTIAL)
async def test_a_lookup_of_one_value_uses_it(
    db: Database, table: str, index: str, column: str
) -> None:
    plan = await _plan(db, table, column)
    assert index in plan, plan


async def test_the_hold_period_job_reads_the_index_of_pending_rewards(db: Database) -> None:
    definition = await _definition(db, "ix_rewards_pending_hold_until")
    assert "WHERE status = 'pending'" in definition or (
        "WHERE ((status)::text = 'pending'::text)" in definition
    ), definition

    async def job() -> None:
        async with db.transaction() as session:
            assert await approve_due(session, datetime(2026, 12, 4, tzinfo=UTC)) == 0

    plan = await plan_of_sent(db, "hold_until", job)
    assert "ix_rewards_pending_hold_until" in plan, plan


async def test_a_leads_rewards_are_read_from_the_index_of_their_sources(db: Database) -> None:
    """``rewards.service.for_sources``: before migration 0018 it read every reward."""
    definition = await _definition(db, "ix_rewards_source_id")
    assert "source_type <> 'purchase'" in definition or (
        "(source_type)::text <> 'purchase'::text" in definition
    ), definition
    value = uuid.uuid4().bytes if BACKEND == "sqlite" else uuid.uuid4()
    lookup = (
        "SELECT id FROM rewards WHERE source_type = 'lead' AND source_type <> 'purchase' "
        "AND source_id IN (:value) ORDER BY id"
    )
    plan = await _plan_of(
        db, lambda conn, explain: conn.execute(text(f"{explain} {lookup}"), {"value": value})
    )
    assert "ix_rewards_source_id" in plan, plan
