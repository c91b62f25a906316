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

A batch begins with ``BEGIN IMMEDIATE`` straight on the SQLite connection; SQLAlchemy only learns
of it when a session or Core connection joins (the engine's begin hook then adopts the
transaction in progress), so a batch of hand-written SQL costs two statements, not SQLAlchemy's
transaction machinery.

The hottest writes (a click) are *jobs* instead (:meth:`GroupCommit.run`): a function of the
connection, queued rather than each waiting for the lock. The task that commits a batch runs
the jobs queued meanwhile into the next one, each in its own savepoint, and sends that batch's
COMMIT on its way before the loop wakes anyone: one batch's fsync runs while the loop answers
the last one, and a job costs no task switch of its own. A job's result is handed back only once
its batch is durable, as for any write transaction. Transactions waiting for the lock still get
it after at most one batch of jobs.

The write-ahead log is copied back into the database file when it has grown by 4 MB since it
was last copied (its length read from the log's index, not from the file, which never
shrinks), right after a batch's requests were answered, on a thread and with the write lock held (so the log then
restarts from its beginning), instead of by SQLite's automatic checkpoint inside whichever
``COMMIT`` crosses that size: that held the requests of the batch, and the event loop with them,
for the whole copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, AsyncTransaction

from goodwill.db import raw, sqlite_inline
from goodwill.db.raw import Raw

log = structlog.get_logger("goodwill.db")
MAX_BATCH = 64
CHECKPOINT_BYTES = 4 * 1024 * 1024
SHARED = "goodwill.shared"  # session.info key of what a Database's sessions share
GROUP = "GROUP"  # goodwill_begin of the batches' connection: the group commit issues BEGIN
LOST = "the write batch's transaction was lost"
T = TypeVar("T")


@dataclass(eq=False, slots=True)
class _Job:
    fn: Callable[[Raw], Awaitable[Any]]
    future: asyncio.Future[Any]
    result: Any = None
    error: BaseException | None = None


@dataclass(eq=False)
class _Batch:
    connection: AsyncConnection
    driver: sqlite_inline.Connection
    done: asyncio.Future[None]
    raw: Raw
    sqlite: sqlite3.Connection
    # SQLAlchemy's view of the batch's transaction: only once a session or Core joins.
    transaction: AsyncTransaction | None = None
    size: int = 0
    commit_queued: bool = False
    broken: bool = False
    jobs: list[_Job] = field(default_factory=list)


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
        self._shm = None if path is None else path + "-shm"
        self._frame_bytes = 0  # a log frame: a page and its 24-byte header (known once open)
        self._checkpointed: tuple[bytes, int] | None = None  # the log's salt and length then
        self._shared = shared
        self._lock = lock
        self._max_size = max_size
        self._batch: _Batch | None = None
        # One connection for every batch: its page cache stays warm, since no other
        # connection of this process writes.
        self._connection: AsyncConnection | None = None
        self._driver: sqlite_inline.Connection | None = None
        self._raw: Raw | None = None
        self._commits: set[asyncio.Task[None]] = set()
        self._jobs: list[_Job] = []  # queued for the next batch
        self._draining = False  # a task will run the queued jobs
        self._waiting = 0  # transactions waiting for the lock to join a batch

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in its own savepoint of the current batch.

        The savepoint is Goodwill's own (two statements on the SQLite connection), so a request
        that only runs hand-written SQL (``goodwill.db.raw``) never starts the ORM's
        transaction machinery; one that uses the ORM gets the ORM's savepoint inside it.
        """
        async with self._joined() as (batch, connection):
            sqlite = batch.sqlite
            if batch.transaction is None:
                batch.transaction = await connection.begin()  # adopts the batch's BEGIN
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
        async with self._joined() as (batch, connection):
            if batch.transaction is None:
                batch.transaction = await connection.begin()  # adopts the batch's BEGIN
            async with connection.begin_nested():
                yield connection
        await asyncio.shield(batch.done)

    async def run(self, fn: Callable[[Raw], Awaitable[T]]) -> T:
        """``fn``'s result, once the batch it ran in is durable: ``fn`` runs hand-written SQL on
        the writing connection, in its own savepoint, without a session. It must wait for
        nothing but its statements (on SQLite they never suspend): its batch waits for it."""
        job = _Job(fn, asyncio.get_running_loop().create_future())
        self._jobs.append(job)
        if not self._draining:
            self._draining = True
            self._spawn(self._drain())
        result: T = await job.future
        return result

    @asynccontextmanager
    async def _joined(self) -> AsyncIterator[tuple[_Batch, AsyncConnection]]:
        self._waiting += 1
        try:
            await self._lock.acquire()
        finally:
            self._waiting -= 1
        try:
            batch = await self._current()
            batch.size += 1
            try:
                if not batch.sqlite.in_transaction:  # SQLite rolled the batch back on an I/O error
                    batch.broken = True
                    raise RuntimeError(LOST)
                yield batch, batch.connection
            finally:
                self._queue_commit(batch)
        finally:
            self._lock.release()

    async def _current(self) -> _Batch:
        """The open batch if it has room, else a new one (the lock is held)."""
        batch = self._batch
        if batch is not None and batch.size >= self._max_size:
            await self._commit_locked(batch)
            batch = None
        if batch is None:
            batch = self._batch = await self._open()
        return batch

    def _queue_commit(self, batch: _Batch) -> None:
        """The batch's commit, behind the writers already waiting for the lock."""
        if not batch.commit_queued:
            batch.commit_queued = True
            self._spawn(self._commit(batch))

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._commits.add(task)
        task.add_done_callback(self._commits.discard)

    async def _drain(self) -> None:
        """Run the queued jobs, batch after batch, for as long as jobs keep coming."""
        try:
            async with self._lock:
                while self._jobs:
                    try:
                        batch = await self._current()
                    except BaseException as error:  # no batch to run them in: they all fail
                        jobs, self._jobs = self._jobs, []
                        for job in jobs:
                            _settle(job, error)
                        if isinstance(error, Exception):
                            return
                        raise
                    room = self._max_size - batch.size
                    jobs, self._jobs = self._jobs[:room], self._jobs[room:]
                    for k, job in enumerate(jobs):
                        try:
                            await self._run_job(batch, job)
                        except BaseException as error:  # cancelled: the rest never ran
                            for rest in jobs[k + 1 :]:
                                _settle(rest, error)
                            self._queue_commit(batch)  # which settles the batch's own jobs
                            raise
                    if self._waiting:  # transactions wait for the lock: they join this batch
                        self._queue_commit(batch)
                        break
                    await self._commit_locked(batch)
        finally:
            self._draining = False
            if self._jobs:  # left for after the waiting transactions
                self._draining = True
                self._spawn(self._drain())

    async def _run_job(self, batch: _Batch, job: _Job) -> None:
        if job.future.done():  # its caller gave up before it ran
            return
        batch.size += 1
        batch.jobs.append(job)
        sqlite = batch.sqlite
        if not sqlite.in_transaction:  # SQLite rolled the batch back on an I/O error
            batch.broken = True
            job.error = RuntimeError(LOST)
            return
        sqlite.execute("SAVEPOINT goodwill_job")
        try:
            job.result = await job.fn(batch.raw)
        except BaseException as error:
            job.error = error
            try:
                sqlite.execute("ROLLBACK TO goodwill_job")
                sqlite.execute("RELEASE goodwill_job")
            except Exception:
                batch.broken = True  # what the batch holds is unknown now: fail it all
            if not isinstance(error, Exception):
                raise
            return
        try:
            sqlite.execute("RELEASE goodwill_job")
        except Exception as error:
            # Its writes may or may not be part of the batch now: fail the batch.
            batch.broken = True
            job.error = error

    async def _open(self) -> _Batch:
        try:
            if self._connection is None:
                self._connection = await self._engine.connect()
                await self._connection.execution_options(goodwill_begin=GROUP)
                fairy = await self._connection.get_raw_connection()
                assert isinstance(fairy.driver_connection, sqlite_inline.Connection)
                self._driver = fairy.driver_connection
                self._raw = await raw.raw_reads(self._connection)
                if self._wal is not None:
                    sqlite = self._raw.sqlite_connection()
                    sqlite.execute("PRAGMA wal_autocheckpoint=0")
                    self._frame_bytes = sqlite.execute("PRAGMA page_size").fetchone()[0] + 24
            connection, driver, db = self._connection, self._driver, self._raw
            assert driver is not None
            assert db is not None
            await driver.begin_immediate()
        except BaseException:
            await self._drop_connection()
            raise
        return _Batch(
            connection,
            driver,
            asyncio.get_running_loop().create_future(),
            db,
            db.sqlite_connection(),
        )

    async def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        self._driver = self._raw = None
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
                raise RuntimeError(LOST)
            if batch.broken:
                raise RuntimeError("a write of the batch failed half-way; the batch is rolled back")
            if batch.transaction is not None:
                await batch.transaction.commit()
            else:
                await batch.driver.commit()
        except BaseException as error:
            batch.done.set_exception(error)
            batch.done.exception()  # retrieved: each waiter re-raises it
            for job in batch.jobs:
                _settle(job, job.error or error)
            await _quietly_rollback(batch)
            await self._drop_connection()  # start the next batch on a fresh connection
        else:
            batch.done.set_result(None)  # answered now; the checkpoint below delays nobody's answer
            for job in batch.jobs:
                _settle(job, job.error)
            await self._checkpoint_if_due(batch.sqlite)

    def _log(self) -> tuple[bytes, int] | None:
        """The write-ahead log's salt and length in frames, from its index's header (the
        ``-shm`` file; SQLite's "WAL-Index Format": ``mxFrame`` at byte 16, native order, the
        salt at 32). The log file itself never shrinks: SQLite writes over it from the start
        after a checkpoint, with a new salt, so its size on disk says nothing about its length.
        """
        if self._shm is None:
            return None
        try:
            fd = os.open(self._shm, os.O_RDONLY)
        except OSError:
            return None
        try:
            header = os.pread(fd, 40, 0)
        finally:
            os.close(fd)
        if len(header) < 40:
            return None
        return header[32:40], struct.unpack_from("=I", header, 16)[0]

    async def _checkpoint_if_due(self, sqlite: sqlite3.Connection) -> None:
        """Copy the log into the database file once it has grown by ``CHECKPOINT_BYTES`` since
        it was last copied: on a thread, with the write lock held, so no write of this process
        races it and the log restarts from its beginning at the next batch."""
        log_now = self._log()
        if log_now is None:
            return
        salt, frames = log_now
        if self._checkpointed is not None and self._checkpointed[0] == salt:
            frames -= self._checkpointed[1]  # not restarted: what was added since the copy
        if frames * self._frame_bytes < CHECKPOINT_BYTES:
            return
        try:
            await asyncio.to_thread(
                lambda: sqlite.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            )
        except sqlite3.Error:
            log.warning("wal_checkpoint_failed", wal=self._wal, exc_info=True)
        self._checkpointed = log_now

    async def close(self) -> None:
        """Commit what is open and wait for queued jobs and commits (at shutdown)."""
        async with self._lock:
            if self._batch is not None:
                await self._commit_locked(self._batch)
        while self._commits:
            await asyncio.gather(*self._commits, return_exceptions=True)
        async with self._lock:
            await self._drop_connection()


def _settle(job: _Job, error: BaseException | None) -> None:
    if job.future.done():
        return
    if error is None:
        job.future.set_result(job.result)
    else:
        job.future.set_exception(error)


async def _quietly_rollback(batch: _Batch) -> None:
    # The commit's own error is what the waiters see.
    with contextlib.suppress(Exception):
        if batch.transaction is not None:
            await batch.transaction.rollback()
        else:
            await batch.driver.rollback()
