"""Rows of concurrent requests written in one statement (goodwill.db.coalesce): what arrives
while a statement is in flight shares the next one, each request learns its own row's result,
and a failed statement fails exactly the requests whose rows it held."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest

from goodwill.db import Database
from goodwill.db.coalesce import Coalesced
from goodwill.db.raw import Raw, Sql


class Recorder:
    """Runs a real statement per batch on the connection it is given and remembers the
    batches; ``hold`` keeps the next statement in flight until released."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.hold: asyncio.Event | None = None
        self.fail_next: Exception | None = None
        self.short = False

    async def __call__(self, sql: Raw, rows: Sequence[int]) -> list[int]:
        self.batches.append(list(rows))
        if self.hold is not None:
            hold, self.hold = self.hold, None
            await hold.wait()
        assert await sql.scalar(Sql("SELECT 1")) == 1
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        results = [row * 10 for row in rows]
        return results[:-1] if self.short else results


async def until(check: Callable[[], bool]) -> None:
    """Let the other tasks run (and connections open) until ``check()`` holds."""
    for _ in range(5000):
        if check():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("timed out")


async def test_rows_arriving_during_a_statement_share_the_next_one(db: Database) -> None:
    recorder = Recorder()
    together: Coalesced[int, int] = Coalesced(db.statements, recorder)
    hold = recorder.hold = asyncio.Event()
    first = asyncio.create_task(together.submit(0))
    await until(lambda: recorder.batches == [[0]])  # the first row went out at once, alone
    rest = [asyncio.create_task(together.submit(n)) for n in range(1, 11)]
    await until(lambda: together.queued == 10)
    hold.set()
    assert await first == 0
    assert await asyncio.gather(*rest) == [n * 10 for n in range(1, 11)]
    assert recorder.batches == [[0], list(range(1, 11))]
    assert together.statements == 2


async def test_a_statement_holds_at_most_max_rows(db: Database) -> None:
    recorder = Recorder()
    together: Coalesced[int, int] = Coalesced(db.statements, recorder, max_rows=4)
    hold = recorder.hold = asyncio.Event()
    tasks = [asyncio.create_task(together.submit(n)) for n in range(10)]
    await until(lambda: recorder.batches == [[0, 1, 2, 3]])  # all ten queued, then the flush
    hold.set()
    assert await asyncio.gather(*tasks) == [n * 10 for n in range(10)]
    assert recorder.batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


async def test_a_failed_statement_fails_its_rows_and_the_next_is_tried_afresh(
    db: Database,
) -> None:
    recorder = Recorder()
    together: Coalesced[int, int] = Coalesced(db.statements, recorder)
    hold = recorder.hold = asyncio.Event()
    first = asyncio.create_task(together.submit(0))
    await until(lambda: recorder.batches == [[0]])
    doomed = [asyncio.create_task(together.submit(n)) for n in (1, 2, 3)]
    await until(lambda: together.queued == 3)
    recorder.fail_next = ValueError("the database said no")  # for the statement of 0
    hold.set()
    with pytest.raises(ValueError, match="said no"):
        await first
    # 1, 2 and 3 were not in that statement: theirs is written.
    assert await asyncio.gather(*doomed) == [10, 20, 30]
    recorder.fail_next = ValueError("and no again")
    results = await asyncio.gather(*(together.submit(n) for n in (4, 5)), return_exceptions=True)
    assert all(isinstance(r, ValueError) for r in results), results
    assert await together.submit(6) == 60


async def test_too_few_results_fail_every_row_of_the_statement(db: Database) -> None:
    recorder = Recorder()
    recorder.short = True
    together: Coalesced[int, int] = Coalesced(db.statements, recorder)
    with pytest.raises(RuntimeError, match="0 results for 1 rows"):
        await together.submit(1)


async def test_a_request_that_gives_up_leaves_the_others_their_results(db: Database) -> None:
    recorder = Recorder()
    together: Coalesced[int, int] = Coalesced(db.statements, recorder)
    hold = recorder.hold = asyncio.Event()
    first = asyncio.create_task(together.submit(0))
    await until(lambda: recorder.batches == [[0]])
    impatient = asyncio.create_task(together.submit(1))
    patient = asyncio.create_task(together.submit(2))
    await until(lambda: together.queued == 2)
    impatient.cancel()
    hold.set()
    assert await first == 0
    assert await patient == 20
    with pytest.raises(asyncio.CancelledError):
        await impatient
    assert recorder.batches == [[0], [1, 2]]  # its row was written all the same
