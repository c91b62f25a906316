"""PostgreSQL plans each of Goodwill's statements for the values it runs with: a plan cached for
any value, made while a table was small, would keep reading a whole workspace through the
first index that starts with ``workspace_id`` (``GOODWILL_POSTGRES_PLAN_CACHE_MODE``)."""

from __future__ import annotations

import msgspec
from sqlalchemy import text

from goodwill.db import Database
from goodwill.db.raw import Sql
from goodwill.settings import Settings
from tests.conftest import POSTGRES_ONLY

pytestmark = POSTGRES_ONLY

WORKSPACE = "00000000-0000-0000-0000-000000000001"


async def test_every_connection_plans_for_its_values(db: Database) -> None:
    async with db.statements() as sql:  # held out of the pool
        assert await sql.scalar(Sql("SHOW plan_cache_mode")) == "force_custom_plan"
    async with db.transaction() as session:  # pooled
        assert (await session.execute(text("SHOW plan_cache_mode"))).scalar() == "force_custom_plan"


async def test_a_statement_first_run_on_a_small_table_uses_the_right_index_once_it_grew(
    db: Database,
) -> None:
    # A table shaped like Goodwill's products (a temporary one: never analyzed): the unique
    # (workspace_id, sku) the lookup needs, and an index on (workspace_id, id) made after it.
    async with db.transaction() as session:
        for statement in (
            "CREATE TEMPORARY TABLE shelf (id uuid PRIMARY KEY, workspace_id uuid NOT NULL, "
            "sku varchar(200) NOT NULL, name varchar(200), metadata jsonb, "
            "UNIQUE (workspace_id, sku)) ON COMMIT DROP",
            "CREATE INDEX shelf_workspace_id_id ON shelf (workspace_id, id)",
            "PREPARE by_sku(uuid, text) AS "
            "SELECT id FROM shelf WHERE workspace_id = $1 AND sku = $2",
        ):
            await session.execute(text(statement))
        for _ in range(8):  # past the sixth run, where a plan for any value would be cached
            await session.execute(text(f"EXECUTE by_sku('{WORKSPACE}', 'a')"))
        await session.execute(
            text(
                "INSERT INTO shelf (id, workspace_id, sku) SELECT gen_random_uuid(), "
                "CAST(:w AS uuid), 'sku-' || n FROM generate_series(1, 20000) n"
            ),
            {"w": WORKSPACE},
        )
        plan = "\n".join(
            (await session.execute(text(f"EXPLAIN EXECUTE by_sku('{WORKSPACE}', 'sku-7')")))
            .scalars()
            .all()
        )
        await session.execute(text("DEALLOCATE by_sku"))
    assert "shelf_workspace_id_sku_key" in plan, plan
    assert "Filter" not in plan, plan


async def test_the_plan_cache_mode_is_a_setting(settings: Settings) -> None:
    other = Database(msgspec.structs.replace(settings, postgres_plan_cache_mode="auto"))
    try:
        async with other.statements() as sql:
            assert await sql.scalar(Sql("SHOW plan_cache_mode")) == "auto"
    finally:
        await other.dispose()
