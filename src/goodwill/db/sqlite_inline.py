"""SQLite for the async engine without a thread hop per statement.

aiosqlite runs every call on a worker thread; on a small machine each hop costs more than the
SQLite work itself (measured here: ~0.7 ms per ``SELECT 1`` through aiosqlite against ~3 µs
inline). SQLite statements on a local file take microseconds, so Goodwill runs them inline on
the event loop through this facade, which speaks the part of aiosqlite's interface SQLAlchemy's
``sqlite+aiosqlite`` dialect uses.

The exception is a ``COMMIT`` that wrote: it waits for an fsync (``synchronous=FULL``), which
can take longer than any statement, so it runs on a thread while the loop goes on serving.

The other way SQLite can stall is waiting for another process's write lock. Connections therefore
run with ``busy_timeout=0`` and the facade retries ``BEGIN``/``COMMIT`` on ``SQLITE_BUSY`` with
an ``await asyncio.sleep`` between tries, so the loop keeps serving while it waits.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

BUSY_TIMEOUT_SECONDS = 30.0
_RETRY_PREFIXES = ("BEGIN", "COMMIT")


def _is_busy(error: sqlite3.OperationalError) -> bool:
    message = str(error).lower()
    return "database is locked" in message or "database is busy" in message


async def _retry_busy(fn: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    delay = 0.001
    while True:
        try:
            return fn()
        except sqlite3.OperationalError as error:
            if not _is_busy(error) or time.monotonic() > deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)


async def _retry_busy_threaded(fn: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    delay = 0.001
    while True:
        try:
            return await asyncio.to_thread(fn)
        except sqlite3.OperationalError as error:
            if not _is_busy(error) or time.monotonic() > deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)


class Cursor:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._cursor = connection.cursor()

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> Cursor:
        if sql.lstrip()[:6].upper().startswith(_RETRY_PREFIXES):
            await _retry_busy(lambda: self._cursor.execute(sql, parameters))
        else:
            self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> Cursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def close(self) -> None:
        self._cursor.close()

    def setinputsizes(self, *sizes: Any) -> None:
        return None

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _Immediate:
    """Stands in for aiosqlite's call queue, which the dialect uses to set isolation_level."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as error:  # handed to the awaiting caller, as aiosqlite does
            if future is not None:
                future.set_exception(error)
            return
        if future is not None:
            future.set_result(result)


class Connection:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn: sqlite3.Connection | None = connection
        self._tx = _Immediate()
        self._changes_committed = connection.total_changes

    @property
    def _connection(self) -> sqlite3.Connection | None:
        return self._conn

    def _live(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError("no active connection")
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        return self._live().isolation_level

    def cursor(self) -> Cursor:
        return Cursor(self._live())

    @property
    def in_transaction(self) -> bool:
        return self._live().in_transaction

    async def begin_immediate(self) -> None:
        """``BEGIN IMMEDIATE``, awaiting another process's write lock (goodwill.db.group_commit
        begins its batches itself, without SQLAlchemy's transaction objects)."""
        conn = self._live()
        await _retry_busy(lambda: conn.execute("BEGIN IMMEDIATE"))

    async def commit(self) -> None:
        conn = self._live()
        if conn.total_changes == self._changes_committed:
            await _retry_busy(conn.commit)  # nothing written: no fsync to wait for
        else:
            # A commit that wrote waits for an fsync: on a thread (sqlite3 releases the GIL),
            # so the loop serves other requests meanwhile.
            await _retry_busy_threaded(conn.commit)
        self._changes_committed = conn.total_changes

    async def rollback(self) -> None:
        self._live().rollback()

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._live().create_function(*args, **kwargs)


def creator(path: str) -> Callable[[], Any]:
    """An ``async_creator`` for ``create_async_engine`` opening ``path`` inline."""

    async def connect() -> Connection:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=0)
        return Connection(conn)

    return connect
