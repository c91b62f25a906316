"""The indexes on columns that are often NULL hold only the rows where they are set, and the
lookups they serve still use them (migration 0016, ``goodwill.db.base.index_of_set``)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from goodwill.db import Database
from tests.conftest import BACKEND

# table, index, column: every lookup these indexes serve asks for one value
PARTIAL = [
    ("rewards", "ix_rewards_customer_id", "customer_id"),
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


async def _plan(db: Database, table: str, column: str) -> str:
    value = uuid.uuid4().bytes if BACKEND == "sqlite" else uuid.uuid4()
    lookup = f"SELECT id FROM {table} WHERE {column} = :value"  # noqa: S608 - fixed names
    async with db.transaction() as session:
        if BACKEND == "sqlite":
            rows = await session.execute(text(f"EXPLAIN QUERY PLAN {lookup}"), {"value": value})
            return "\n".join(str(row[-1]) for row in rows)
        # The tables are empty here: without this the planner reads them instead.
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        rows = await session.execute(text(f"EXPLAIN {lookup}"), {"value": value})
        return "\n".join(str(row[0]) for row in rows)


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
