"""PostgreSQL keeps a plan for each of Goodwill's prepared statements (``plan_cache_mode=auto``),
and a connection, with the plans it kept, is used for at most
``GOODWILL_POSTGRES_CONNECTION_MAX_AGE_SECONDS``: a plan kept while a table was empty would keep
reading a whole workspace through the first index that starts with ``workspace_id``; the next
connection plans the statement against the table as it is then."""

from __future__ import annotations

import asyncio

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.db import Database
from goodwill.db.raw import Sql
from goodwill.settings import Settings
from tests.conftest import POSTGRES_ONLY

pytestmark = POSTGRES_ONLY

WORKSPACE = "00000000-0000-0000-0000-000000000001"
BACKEND = Sql("SELECT pg_backend_pid()")


async def test_every_connection_keeps_plans(db: Database) -> None:
    async with db.statements() as sql:  # held out of the pool
        assert await sql.scalar(Sql("SHOW plan_cache_mode")) == "auto"
    async with db.transaction() as session:  # pooled
        assert (await session.execute(text("SHOW plan_cache_mode"))).scalar() == "auto"


async def _shelf_plan(session: AsyncSession, *, runs_before_growth: int) -> str:
    """The plan of a lookup by a unique (workspace_id, sku), prepared on an empty table shaped
    like Goodwill's products (a temporary one: never analyzed) that has an index on
    (workspace_id, id) made after the unique one, after ``runs_before_growth`` runs there,
    once the table holds 20,000 rows."""
    await session.execute(
        text(
            "CREATE TEMPORARY TABLE shelf (id uuid PRIMARY KEY, workspace_id uuid NOT NULL, "
            "sku varchar(200) NOT NULL, name varchar(200), metadata jsonb, "
            "UNIQUE (workspace_id, sku)) ON COMMIT DROP"
        )
    )
    await session.execute(text("CREATE INDEX shelf_workspace_id_id ON shelf (workspace_id, id)"))
    prepare = (
        "PREPARE by_sku(uuid, text) AS SELECT id FROM shelf WHERE workspace_id = $1 AND sku = $2"
    )
    await session.execute(text(prepare))
    for _ in range(runs_before_growth):
        await session.execute(text(f"EXECUTE by_sku('{WORKSPACE}', 'a')"))
    await session.execute(
        text(
            "INSERT INTO shelf (id, workspace_id, sku) SELECT gen_random_uuid(), "
            "CAST(:w AS uuid), 'sku-' || n FROM generate_series(1, 20000) n"
        ),
        {"w": WORKSPACE},
    )
    if runs_before_growth == 0:
        # As on a new connection: the statement prepared again, against the grown table.
        await session.execute(text("DEALLOCATE by_sku"))
        await session.execute(text(prepare))
    for _ in range(8):  # past the sixth run, where the plan for any value is kept
        await session.execute(text(f"EXECUTE by_sku('{WORKSPACE}', 'sku-3')"))
    plan = "\n".join(
        (await session.execute(text(f"EXPLAIN EXECUTE by_sku('{WORKSPACE}', 'sku-7')")))
        .scalars()
        .all()
    )
    await session.execute(text("DEALLOCATE by_sku"))
    return plan


async def test_a_plan_kept_on_an_empty_table_is_replaced_by_the_next_connections(
    db: Database,
) -> None:
    async with db.transaction() as session:
        kept_while_empty = await _shelf_plan(session, runs_before_growth=8)
    # Why connections are replaced: the plan kept while the table was empty filters the whole
    # workspace's rows through the other index ...
    assert "shelf_workspace_id_id" in kept_while_empty, kept_while_empty
    assert "Filter" in kept_while_empty, kept_while_empty
    async with db.transaction() as session:
        planned_again = await _shelf_plan(session, runs_before_growth=0)
    # ... and the same statement prepared again, as the next connection does, reads its row.
    assert "shelf_workspace_id_sku_key" in planned_again, planned_again
    assert "Filter" not in planned_again, planned_again


async def test_connections_are_replaced_once_they_reach_their_age(settings: Settings) -> None:
    young = Database(msgspec.structs.replace(settings, postgres_connection_max_age_seconds=0.5))
    try:
        async with young.statements() as sql:  # held out of the pool
            held = await sql.scalar(BACKEND)
        async with young.transaction() as session:  # pooled
            pooled = (await session.execute(text("SELECT pg_backend_pid()"))).scalar()
        async with young.statements() as sql:
            assert await sql.scalar(BACKEND) == held  # still young: held again
        await asyncio.sleep(0.6)
        seen = set()
        for _ in range(3):
            async with young.statements() as sql:
                seen.add(await sql.scalar(BACKEND))
            async with young.transaction() as session:
                seen.add((await session.execute(text("SELECT pg_backend_pid()"))).scalar())
        assert held not in seen, (held, seen)
        assert pooled not in seen, (pooled, seen)
    finally:
        await young.dispose()


async def test_the_plan_cache_mode_is_a_setting(settings: Settings) -> None:
    other = Database(
        msgspec.structs.replace(settings, postgres_plan_cache_mode="force_custom_plan")
    )
    try:
        async with other.statements() as sql:
            assert await sql.scalar(Sql("SHOW plan_cache_mode")) == "force_custom_plan"
    finally:
        await other.dispose()
