"""The durability the docs promise (docs/operations.md): what a 2xx answer survives."""

from __future__ import annotations

from sqlalchemy import text

from goodwill.db import Database
from goodwill.settings import Settings
from tests.conftest import POSTGRES_ONLY, SQLITE_ONLY


async def _scalar(db: Database, sql: str) -> object:
    async with db.engine.connect() as conn:
        return (await conn.execute(text(sql))).scalar_one()


@SQLITE_ONLY
async def test_sqlite_runs_in_wal_mode_and_fsyncs_every_commit(db: Database) -> None:
    assert await _scalar(db, "PRAGMA journal_mode") == "wal"
    assert await _scalar(db, "PRAGMA synchronous") == 2  # FULL
    assert await _scalar(db, "PRAGMA foreign_keys") == 1


@SQLITE_ONLY
async def test_sqlite_synchronous_normal_is_a_choice(database_url: str) -> None:
    db = Database(Settings(database_url=database_url, sqlite_synchronous="NORMAL"))
    try:
        assert await _scalar(db, "PRAGMA synchronous") == 1  # NORMAL
        assert await _scalar(db, "PRAGMA journal_mode") == "wal"
    finally:
        await db.dispose()


@POSTGRES_ONLY
async def test_postgresql_commits_are_synchronous(db: Database) -> None:
    assert await _scalar(db, "SHOW synchronous_commit") == "on"
