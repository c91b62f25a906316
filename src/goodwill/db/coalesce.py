"""One statement for many requests: rows that arrive while a statement is in flight go out
together in the next one.

A PostgreSQL click through a remembered link is a single-row ``INSERT … SELECT`` that commits
by itself; at a few thousand clicks a second, most of its cost is the round trip and the
commit, not the row. :class:`Coalesced` queues the rows of concurrent requests and runs them
as one statement, each request answered with its own row's result once that statement has
returned (so once it is committed, for a statement outside a transaction). Nothing waits to
fill a batch: the first row goes out at once, alone, and whatever arrives meanwhile forms the
next statement, which starts as soon as that one returns.

A statement that fails fails every request whose row it held (none of them gets an answer
that says its row was written); the next statement is tried afresh.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Generic, TypeVar

from goodwill.db.raw import Raw

R = TypeVar("R")  # a row as submitted
T = TypeVar("T")  # what its request learns

MAX_ROWS = 256


class Coalesced(Generic[R, T]):
    """``run(sql, rows)`` writes ``rows`` in one statement and returns one result per row, in
    order; ``connect()`` gives the connection for it (``Database.statements``)."""

    def __init__(
        self,
        connect: Callable[[], AbstractAsyncContextManager[Raw]],
        run: Callable[[Raw, Sequence[R]], Awaitable[Sequence[T]]],
        *,
        max_rows: int = MAX_ROWS,
    ) -> None:
        self._connect = connect
        self._run = run
        self._max_rows = max_rows
        self._queued: list[tuple[R, asyncio.Future[T]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self.statements = 0  # run so far (for tests and diagnostics)

    @property
    def queued(self) -> int:
        """Rows waiting for the next statement."""
        return len(self._queued)

    async def submit(self, row: R) -> T:
        """``row``'s result, once the statement that wrote it has returned."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queued.append((row, future))
        if self._flushing is None:
            self._flushing = asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._queued:
                batch = self._queued[: self._max_rows]
                del self._queued[: self._max_rows]
                await self._write(batch)
        finally:
            self._flushing = None
            # Only a cancelled flush (the process stopping) leaves rows behind: fail them.
            left, self._queued = self._queued, []
            for _, future in left:
                if not future.done():
                    future.set_exception(RuntimeError("stopped before the row was written"))

    async def _write(self, batch: list[tuple[R, asyncio.Future[T]]]) -> None:
        self.statements += 1
        try:
            async with self._connect() as sql:
                results = await self._run(sql, [row for row, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"{len(results)} results for {len(batch)} rows")
        except BaseException as error:
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():  # its request may have given up meanwhile
                future.set_result(result)
