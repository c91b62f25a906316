"""The database handle: one async engine, sessions that are transactions, SQLite made durable.

SQLite is opened in WAL mode with ``synchronous=FULL`` by default: a commit returns only once
the WAL is fsynced, so a 2xx answer survives a crash of the process and of the machine. Write
transactions start with ``BEGIN IMMEDIATE`` (they take the write lock up front, so they never
fail half-way on a lock upgrade) and, inside one process, queue on an asyncio lock rather than
spinning on SQLite's busy handler.

SQLite writes are group-committed (:mod:`goodwill.db.group_commit`): the write transactions that
queue up while one runs share one ``COMMIT``, and so one fsync, each inside its own savepoint;
none of them returns before that commit is durable.

JSON columns are written with msgspec, so a ``Decimal`` is stored as an exact JSON number
(``12.50``), never through a binary float (the ``amount`` of seed 000's ``purchase.created``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import msgspec
from sqlalchemy import event, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine

from goodwill.db import raw, sqlite_inline
from goodwill.db.group_commit import GROUP, SHARED, GroupCommit, flush_outbox
from goodwill.db.held import HeldConnections, server_closed
from goodwill.db.raw import Raw
from goodwill.settings import Settings

_json = msgspec.json.Encoder(decimal_format="number")
T = TypeVar("T")


def json_dumps(value: Any) -> str:
    """JSON text for a JSON column: decimals as exact numbers."""
    return _json.encode(value).decode()


class Database:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.is_sqlite = settings.is_sqlite
        kwargs: dict[str, Any] = {"json_serializer": json_dumps}
        # Connections are kept, not churned: opening one costs a thread (aiosqlite) or a
        # backend process (PostgreSQL).
        kwargs["pool_size"] = settings.database_pool_size
        kwargs["max_overflow"] = settings.database_pool_size
        if self.is_sqlite:
            kwargs["async_creator"] = sqlite_inline.creator(
                sqlite_path(settings.async_database_url)
            )
        else:
            # In each connection's startup packet (no round trip). With plan_cache_mode=auto
            # PostgreSQL plans a prepared statement for its values five times, then keeps one
            # plan for any value: planning each run was 0.46 of the 1.25 ms the purchase
            # path's statements took in PostgreSQL. A plan kept while its tables were still
            # empty can pick the wrong index (each one starting with workspace_id costs the
            # same then) and keeps it until the table is analyzed. So a connection is used for
            # at most postgres_connection_max_age_seconds: its successor prepares its
            # statements again and plans them against the tables as they are then, statistics
            # or not (docs/operations.md, "PostgreSQL plans").
            kwargs["connect_args"] = {
                "server_settings": {"plan_cache_mode": settings.postgres_plan_cache_mode}
            }
            kwargs["pool_recycle"] = settings.postgres_connection_max_age_seconds
        self.engine: AsyncEngine = create_async_engine(settings.async_database_url, **kwargs)
        if not self.is_sqlite:
            _discard_closed_connections(self.engine)
        # Single statements outside a transaction (authentication, a click on PostgreSQL) run
        # on connections held out of the pool: a checkout costs more than such a statement.
        self._held = HeldConnections(
            self.engine,
            limit=max(1, settings.database_pool_size // 2),
            max_age=None if self.is_sqlite else settings.postgres_connection_max_age_seconds,
        )
        # What every session of this database may share: the caches of goodwill.workspaces.config
        self.shared: dict[str, Any] = {}
        self._group: GroupCommit | None = None
        if self.is_sqlite:
            _configure_sqlite(self.engine, settings.sqlite_synchronous)
            self._group = GroupCommit(
                self.engine,
                asyncio.Lock(),
                self.shared,
                path=sqlite_path(settings.async_database_url),
            )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on a clean exit, rolled back on error."""
        if self._group is not None and write:
            async with self._group.session() as session:
                yield session
        else:
            async with self._session(write=write) as session:
                yield session

    @asynccontextmanager
    async def connection(self, *, write: bool = True) -> AsyncIterator[AsyncConnection]:
        """A Core connection inside one transaction, for hot paths that need no ORM session."""
        if self._group is not None and write:
            async with self._group.connection() as conn:
                yield conn
        else:
            async with self._connect(write=write) as conn, conn.begin():
                yield conn

    async def run_write(self, fn: Callable[[Raw], Awaitable[T]]) -> T:
        """``fn``'s result once what it wrote is durable: ``fn`` runs hand-written SQL
        (:mod:`goodwill.db.raw`) that writes with **one** statement, after any reads it needs;
        no ORM session, no Core. For the hottest write paths (a click).

        SQLite: a job of the group commit, in its own savepoint of a batch.
        PostgreSQL: outside any transaction, so each statement commits by itself (the one
        write with ``synchronous_commit=on``) and no ``BEGIN`` or ``COMMIT`` costs a round trip;
        the reads see what is committed. Two writes here would not be atomic: use
        :meth:`transaction` for those.
        """
        if self._group is not None:
            return await self._group.run(fn)
        async with self.statements() as db:
            return await fn(db)

    @asynccontextmanager
    async def statements(self) -> AsyncIterator[raw.Raw]:
        """Hand-written SQL outside any transaction: each statement reads what is committed
        when it runs (and would commit by itself). For one-statement reads on every request."""
        async with self._held.acquire() as db:
            yield db

    @asynccontextmanager
    async def _connect(self, *, write: bool) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            if self.is_sqlite:
                await conn.execution_options(goodwill_begin="IMMEDIATE" if write else "DEFERRED")
            yield conn

    @asynccontextmanager
    async def _session(self, *, write: bool) -> AsyncIterator[AsyncSession]:
        async with self._connect(write=write) as conn:
            session = AsyncSession(bind=conn, expire_on_commit=False, autoflush=False)
            session.info[SHARED] = self.shared
            try:
                async with session.begin():
                    yield session
                    await flush_outbox(session)
            finally:
                raw.forget(session)
                await session.close()

    async def dispose(self) -> None:
        await self._held.close()
        if self._group is not None:
            await self._group.close()
        await self.engine.dispose()


def sqlite_path(url: str) -> str:
    """The file of a ``sqlite+aiosqlite:///path`` URL (``:memory:`` is refused: it is not shared)."""
    path = make_url(url).database
    if not path or path == ":memory:":
        raise SystemExit(
            "GOODWILL_DATABASE_URL must name a SQLite file, e.g. sqlite:///goodwill.db"
        )
    return path


def _discard_closed_connections(engine: AsyncEngine) -> None:
    """A pooled PostgreSQL connection the server has closed (a restart, an idle timeout) is
    replaced before use. asyncpg notices the closed socket by itself, so this costs no round
    trip, unlike SQLAlchemy's ``pool_pre_ping`` (a ``BEGIN``/``ROLLBACK`` on every checkout:
    two of the purchase path's round trips, at ~60 µs of CPU each on a small VM)."""

    @event.listens_for(engine.sync_engine, "checkout")
    def on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if server_closed(dbapi_connection.driver_connection):
            raise DisconnectionError("the server closed this connection")


def _configure_sqlite(engine: AsyncEngine, synchronous: str) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Goodwill issues BEGIN itself (below); the driver must not start transactions.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Savepoints (goodwill.db.group_commit) journal the pages they change: in memory.
        cursor.execute("PRAGMA temp_store=MEMORY")
        # No busy handler: sqlite_inline awaits another process's write lock instead.
        cursor.execute("PRAGMA busy_timeout=0")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("goodwill_begin", "DEFERRED")
        if mode == GROUP:
            # The group commit's connection: its batch began with BEGIN IMMEDIATE already.
            if not conn.connection.driver_connection.in_transaction:
                raise RuntimeError("a session on the group commit's connection outside a batch")
            return
        conn.exec_driver_sql(f"BEGIN {mode}")
