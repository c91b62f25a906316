"""Connections held out of the pool for single statements outside any transaction.

Authentication reads on every request, and a click on PostgreSQL is one statement that commits
by itself. Taking a connection from SQLAlchemy's pool and giving it back costs about 75 µs of
CPU on the 2-core machine (a greenlet each way, the checkout events, the reset on return), more
than the statement itself (about 30 µs on PostgreSQL, a few on SQLite). So the process keeps a
few such connections checked out and hands them from one statement to the next.

What keeps this safe:

* only single statements outside a transaction run here (each commits, or reads what is
  committed, by itself), so a connection carries no state from one user to the next;
* a connection whose statement raised, or was cancelled, goes back to the pool (which resets
  it) instead of being held again; one the server has closed is noticed before use, without
  a round trip, and dropped;
* at most ``limit`` are held idle; the rest go back to the pool, so transactions always find
  connections there;
* on PostgreSQL one is held for at most ``max_age`` seconds after it was taken from the pool,
  then given back (which replaces it once the pool's own age limit has passed): its cached
  plans are remade on a fresh connection (``goodwill.db.engine``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from goodwill.db import raw

_Held = tuple[AsyncConnection, raw.Raw, float]  # the connection, its statements, when taken


class HeldConnections:
    def __init__(self, engine: AsyncEngine, limit: int, max_age: float | None = None) -> None:
        self._engine = engine
        self._limit = limit
        self._max_age = max_age
        self._idle: list[_Held] = []
        self._closed = False

    @property
    def idle(self) -> int:
        return len(self._idle)

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[raw.Raw]:
        """A connection for single statements outside a transaction, as hand-written SQL."""
        held = await self._take()
        clean = False
        try:
            yield held[1]
            clean = True
        finally:
            if clean and self._keeps(held):
                self._idle.append(held)
            else:
                await held[0].close()

    def _usable(self, held: _Held) -> bool:
        young = self._max_age is None or time.monotonic() - held[2] < self._max_age
        return young and _open(held[0])

    def _keeps(self, held: _Held) -> bool:
        return not self._closed and len(self._idle) < self._limit and self._usable(held)

    async def _take(self) -> _Held:
        while self._idle:
            held = self._idle.pop()
            if self._usable(held):
                return held
            # Back to the pool, which discards a closed one (goodwill.db.engine, on checkout)
            # and replaces one past its age.
            await held[0].close()
        conn = await self._engine.connect()
        try:
            return conn, await raw.raw_reads(conn), time.monotonic()
        except BaseException:
            await conn.close()
            raise

    async def close(self) -> None:
        """Give every idle connection back to the pool; later ones are not held."""
        self._closed = True
        while self._idle:
            conn, _, _ = self._idle.pop()
            await conn.close()


def _open(conn: AsyncConnection) -> bool:
    """False once the connection is closed or invalidated, or the server has closed it."""
    if conn.closed or conn.invalidated or conn.sync_connection is None:
        return False
    return not server_closed(conn.sync_connection.connection.driver_connection)


def server_closed(driver_connection: Any) -> bool:
    """Whether the database server closed this driver connection (a restart, an idle timeout).
    asyncpg notices a closed socket by itself, so this costs no round trip; SQLite's
    connections have no server to lose."""
    is_closed = getattr(driver_connection, "is_closed", None)
    return callable(is_closed) and bool(is_closed())
