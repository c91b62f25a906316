"""Group commit for SQLite: write transactions that queue up together share one durable COMMIT.

SQLite has one writer at a time, and with ``synchronous=FULL`` every ``COMMIT`` waits for an
fsync of the WAL. One transaction per request would pay that fsync (and a ``BEGIN IMMEDIATE``)
per request, with the event loop stalled meanwhile. Instead, in each process:

- the first writer opens a *batch*: a ``BEGIN IMMEDIATE`` transaction on the process's one
  writing connection;
- every write transaction runs, one at a time, in its own ``SAVEPOINT`` on that connection. If
  it fails, it is rolled back to its savepoint and its error is raised; the others are untouched;
- when a transaction ends, the batch's commit is queued behind the writers already waiting
  (the lock is first come, first served), so they join the batch; later ones start the next;
- nobody returns before the batch's ``COMMIT`` has succeeded: an answer still means the write
  is on disk. A failed ``COMMIT`` fails every transaction of the batch (none was answered).

A batch holds at most ``max_size`` transactions, so a long queue cannot make one batch, and its
latency, grow without bound.

The write-ahead log is copied back into the database file when it passes 4 MB, right after a
batch's requests were answered, on a thread and with the write lock held (so the log then
restarts from its beginning), instead of by SQLite's automatic checkpoint inside whichever
``COMMIT`` crosses that size: that held the requests of the batch, and the event loop with them,
for the whole copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, AsyncTransaction

from goodwill.db import raw
from goodwill.db.raw import Raw

log = structlog.get_logger("goodwill.db")
MAX_BATCH = 64
CHECKPOINT_BYTES = 4 * 1024 * 1024
SHARED = "goodwill.shared"  # session.info key of what a Database's sessions share


@dataclass(eq=False)
class _Batch:
    connection: AsyncConnection
    transaction: AsyncTransaction
    done: asyncio.Future[None]
    raw: Raw
    sqlite: sqlite3.Connection
    size: int = 0
    commit_queued: bool = False
    broken: bool = False


async def flush_outbox(session: AsyncSession) -> None:
    """The transaction's buffered events, written before it ends (goodwill.events)."""
    from goodwill.events.service import flush  # the events domain sits above storage

    await flush(session)


class GroupCommit:
    def __init__(
        self,
        engine: AsyncEngine,
        lock: asyncio.Lock,
        shared: dict[str, Any],
        max_size: int = MAX_BATCH,
        *,
        path: str | None = None,
    ) -> None:
        self._engine = engine
        self._wal = None if path is None else path + "-wal"
        self._shared = shared
        self._lock = lock
        self._max_size = max_size
        self._batch: _Batch | None = None
        # One connection for every batch: its page cache stays warm, since no other
        # connection of this process writes.
        self._connection: AsyncConnection | None = None
        self._commits: set[asyncio.Task[None]] = set()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in its own savepoint of the current batch.

        The savepoint is Goodwill's own (two statements on the SQLite connection), so a request
        that only runs hand-written SQL (``goodwill.db.raw``) never starts the ORM's
        transaction machinery; one that uses the ORM gets the ORM's savepoint inside it.
        """
        async with self._joined() as (batch, connection):
            sqlite = batch.sqlite
            session = AsyncSession(
                bind=connection,
                expire_on_commit=False,
                autoflush=False,
                join_transaction_mode="create_savepoint",
            )
            session.info[SHARED] = self._shared
            raw.adopt(session, batch.raw)
            sqlite.execute("SAVEPOINT goodwill_job")
            try:
                yield session
                if session.in_transaction():
                    await session.flush()
                await flush_outbox(session)
                if session.in_transaction():
                    await session.commit()
                try:
                    sqlite.execute("RELEASE goodwill_job")
                except Exception:
                    # Its writes may or may not be part of the batch now: fail the batch.
                    batch.broken = True
                    raise
            except BaseException:
                if batch.broken:
                    raise
                try:
                    if session.in_transaction():
                        await session.rollback()
                    sqlite.execute("ROLLBACK TO goodwill_job")
                    sqlite.execute("RELEASE goodwill_job")
                except Exception:
                    batch.broken = True  # what the batch holds is unknown now: fail it all
                raise
            finally:
                raw.forget(session)
                await session.close()
        await asyncio.shield(batch.done)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A Core connection in its own savepoint of the current batch."""
        async with self._joined() as (batch, connection), connection.begin_nested():
            yield connection
        await asyncio.shield(batch.done)

    @asynccontextmanager
    async def _joined(self) -> AsyncIterator[tuple[_Batch, AsyncConnection]]:
        async with self._lock:
            batch = self._batch
            if batch is not None and batch.size >= self._max_size:
                await self._commit_locked(batch)
                batch = None
            if batch is None:
                batch = self._batch = await self._open()
            batch.size += 1
            try:
                if not batch.sqlite.in_transaction:  # SQLite rolled the batch back on an I/O error
                    batch.broken = True
                    raise RuntimeError("the write batch's transaction was lost")
                yield batch, batch.connection
            finally:
                if not batch.commit_queued:
                    batch.commit_queued = True
                    task = asyncio.get_running_loop().create_task(self._commit(batch))
                    self._commits.add(task)
                    task.add_done_callback(self._commits.discard)

    async def _open(self) -> _Batch:
        connection = self._connection
        if connection is None:
            connection = await self._engine.connect()
            await connection.execution_options(goodwill_begin="IMMEDIATE")
            if self._wal is not None:
                sqlite = (await raw.raw_reads(connection)).sqlite_connection()
                sqlite.execute("PRAGMA wal_autocheckpoint=0")
            self._connection = connection
        try:
            transaction = await connection.begin()
            db = await raw.raw_reads(connection)
        except BaseException:
            await self._drop_connection()
            raise
        return _Batch(
            connection,
            transaction,
            asyncio.get_running_loop().create_future(),
            db,
            db.sqlite_connection(),
        )

    async def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()

    async def _commit(self, batch: _Batch) -> None:
        async with self._lock:
            await self._commit_locked(batch)

    async def _commit_locked(self, batch: _Batch) -> None:
        if batch.done.done():
            return
        if self._batch is batch:
            self._batch = None
        try:
            if not batch.sqlite.in_transaction:  # rolled back by SQLite: a COMMIT would do nothing
                raise RuntimeError("the write batch's transaction was lost")
            if batch.broken:
                raise RuntimeError("a write of the batch failed half-way; the batch is rolled back")
            await batch.transaction.commit()
        except BaseException as error:
            batch.done.set_exception(error)
            batch.done.exception()  # retrieved: each waiter re-raises it
            await _quietly_rollback(batch.transaction)
            await self._drop_connection()  # start the next batch on a fresh connection
        else:
            batch.done.set_result(None)  # answered now; the checkpoint below delays nobody's answer
            await self._checkpoint_if_due(batch.sqlite)

    async def _checkpoint_if_due(self, sqlite: sqlite3.Connection) -> None:
        """Copy the log into the database file once it passes ``CHECKPOINT_BYTES``: on a thread,
        with the write lock held, so no write of this process races it and the log restarts
        from its beginning at the next batch."""
        if self._wal is None:
            return
        try:
            size = os.stat(self._wal).st_size
        except OSError:
            return
        if size < CHECKPOINT_BYTES:
            return
        try:
            await asyncio.to_thread(
                lambda: sqlite.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            )
        except sqlite3.Error:
            log.warning("wal_checkpoint_failed", wal=self._wal, exc_info=True)

    async def close(self) -> None:
        """Commit what is open and wait for queued commits (at shutdown)."""
        async with self._lock:
            if self._batch is not None:
                await self._commit_locked(self._batch)
        if self._commits:
            await asyncio.gather(*self._commits, return_exceptions=True)
        async with self._lock:
            await self._drop_connection()


async def _quietly_rollback(transaction: AsyncTransaction) -> None:
    # The commit's own error is what the waiters see.
    with contextlib.suppress(Exception):
        await transaction.rollback()
