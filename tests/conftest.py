"""Test harness: a real, migrated database (SQLite or PostgreSQL) and the app in-process.

``GOODWILL_TEST_DATABASE`` picks the database: ``sqlite`` (default) or ``postgresql``; for the
latter ``GOODWILL_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``)
names a server where a scratch database is created for the run and dropped after it.
Each test gets its own workspace, so tests are isolated by tenancy, as users are.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from litestar import Litestar

from goodwill.db import Database
from goodwill.http.app import create_app
from goodwill.migrate import upgrade
from goodwill.settings import Settings
from goodwill.workspaces import service as workspaces

BACKEND = os.environ.get("GOODWILL_TEST_DATABASE", "sqlite")
PG_ADMIN_URL = os.environ.get(
    "GOODWILL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


class FakeClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 4, 6, 6, 23, 54, 793000, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def _pg_url(database: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if BACKEND == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'goodwill.db'}"
        upgrade(Settings(database_url=url))
        yield url
        return
    if BACKEND != "postgresql":
        raise pytest.UsageError(f"GOODWILL_TEST_DATABASE={BACKEND!r}: use sqlite or postgresql")
    name = f"goodwill_test_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = _pg_url(name)
    try:
        upgrade(Settings(database_url=url))
        yield url
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, log_level="warning")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings)
    yield database
    await database.dispose()


@pytest.fixture
def app(settings: Settings, clock: FakeClock, db: Database) -> Litestar:
    return create_app(settings, clock=clock, database=db, background=False)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """The app in-process, on the test's own event loop (so concurrency tests are real)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as test_client:
        yield test_client


class Tenant:
    """A workspace with a secret key, and the headers to call as it."""

    def __init__(self, workspace_id: uuid.UUID, secret: str) -> None:
        self.workspace_id = workspace_id
        self.secret = secret
        self.headers = {"X-Api-Key": secret}


async def make_tenant(db: Database, clock: FakeClock, name: str = "Shop") -> Tenant:
    async with db.transaction() as session:
        workspace = await workspaces.create_workspace(session, name, clock())
        issued = await workspaces.create_secret_key(session, workspace.id, clock())
    return Tenant(workspace.id, issued.secret)


@pytest.fixture
async def tenant(db: Database, clock: FakeClock) -> Tenant:
    return await make_tenant(db, clock, "Shop")


@pytest.fixture
async def other_tenant(db: Database, clock: FakeClock) -> Tenant:
    return await make_tenant(db, clock, "Other shop")


async def count_rows(db: Database, table: str, workspace_id: uuid.UUID) -> int:
    from sqlalchemy import text

    async with db.transaction(write=False) as session:
        result = await session.execute(
            text(f"SELECT count(*) FROM {table} WHERE workspace_id = :w"),  # noqa: S608 - test-only, fixed table names
            {"w": workspace_id if db.dialect == "postgresql" else workspace_id.bytes},
        )
        return int(result.scalar_one())


def error_of(response: Any) -> dict[str, Any]:
    body = response.json()
    assert "error" in body, body
    return dict(body["error"])


SQLITE_ONLY = pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite behaviour")
POSTGRES_ONLY = pytest.mark.skipif(BACKEND != "postgresql", reason="PostgreSQL behaviour")
ROOT = Path(__file__).resolve().parent.parent
