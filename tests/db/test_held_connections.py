"""Connections held out of the pool for single statements (goodwill.db.held): reused while
clean, given back when a statement fails or is cancelled, replaced when the server closed them,
and never holding a transaction open, so what they read is always what is committed."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from goodwill.clock import utcnow
from goodwill.db import Database
from goodwill.db.raw import Raw, Sql
from goodwill.workspaces import service as workspaces
from tests.conftest import POSTGRES_ONLY, Tenant

ONE = Sql("SELECT 1")
BROKEN = Sql("SELECT * FROM no_such_table")


def driver_of(sql: Raw) -> Any:
    return sql._conn  # the sqlite3 or asyncpg connection under the Raw


async def test_a_clean_connection_is_used_again(db: Database) -> None:
    async with db.statements() as first:
        assert await first.scalar(ONE) == 1
        seen = driver_of(first)
    async with db.statements() as second:
        assert driver_of(second) is seen
    assert db._held.idle == 1


async def test_a_statement_that_failed_gives_its_connection_back(db: Database) -> None:
    with pytest.raises(Exception, match="no_such_table"):
        async with db.statements() as sql:
            await sql.one(BROKEN)
    assert db._held.idle == 0
    async with db.statements() as sql:
        assert await sql.scalar(ONE) == 1
    assert db._held.idle == 1


async def test_a_cancelled_statement_gives_its_connection_back(db: Database) -> None:
    started = asyncio.Event()

    async def slow() -> None:
        async with db.statements() as sql:
            started.set()
            await asyncio.sleep(10)
            await sql.one(ONE)

    task = asyncio.create_task(slow())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert db._held.idle == 0


async def test_at_most_the_limit_is_held_idle(db: Database) -> None:
    limit = db._held._limit
    gate = asyncio.Event()

    async def use() -> None:
        async with db.statements() as sql:
            await gate.wait()
            assert await sql.scalar(ONE) == 1

    tasks = [asyncio.create_task(use()) for _ in range(limit + 3)]
    await asyncio.sleep(0.05)
    gate.set()
    await asyncio.gather(*tasks)
    assert db._held.idle == limit


async def test_reads_see_every_commit_at_once(db: Database, tenant: Tenant) -> None:
    async with db.statements() as sql:
        principal = await workspaces.authenticate(sql, tenant.secret, kind="secret")
    assert principal is not None
    async with db.transaction() as session:
        await workspaces.revoke_key(session, str(principal.key_id), utcnow())
    async with db.statements() as sql:  # the same held connection
        assert await workspaces.authenticate(sql, tenant.secret, kind="secret") is None


async def test_dispose_gives_the_held_connections_back(db: Database) -> None:
    async with db.statements() as sql:
        await sql.scalar(ONE)
    await db._held.close()
    assert db._held.idle == 0
    async with db.statements() as sql:  # still usable, just not held any more
        assert await sql.scalar(ONE) == 1
    assert db._held.idle == 0


@POSTGRES_ONLY
async def test_a_connection_the_server_closed_is_replaced(db: Database) -> None:
    async with db.statements() as sql:
        pid = await sql.scalar(Sql("SELECT pg_backend_pid()"))
    url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(url)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    await asyncio.sleep(0.2)  # the loop sees the closed socket
    async with db.statements() as sql:
        assert await sql.scalar(Sql("SELECT pg_backend_pid()")) != pid
