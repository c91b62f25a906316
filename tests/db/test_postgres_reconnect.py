"""Pooled PostgreSQL connections that the server closed are replaced before use."""

from __future__ import annotations

import asyncio

import asyncpg
from sqlalchemy import text

from goodwill.db import Database
from tests.conftest import POSTGRES_ONLY


@POSTGRES_ONLY
async def test_connections_the_server_closed_are_replaced_before_use(db: Database) -> None:
    # Fill the pool with a few connections, then have the server drop every one of them.
    async def touch() -> None:
        async with db.transaction(write=False) as session:
            await session.execute(text("SELECT pg_sleep(0.05)"))

    await asyncio.gather(*(touch() for _ in range(3)))
    url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(url)
    try:
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    assert killed >= 3
    await asyncio.sleep(0.2)  # the loop sees the closed sockets
    for _ in range(5):  # every pooled connection is dead: each checkout must replace its own
        async with db.transaction() as session:
            assert (await session.execute(text("SELECT 1"))).scalar_one() == 1
