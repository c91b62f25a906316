"""SQLite group commit (goodwill.db.group_commit): write transactions that queue up together
share one COMMIT, each in its own savepoint, and none returns before that COMMIT succeeded.

What is durable is checked on a connection of its own (plain ``sqlite3``, outside the engine),
the way another process would see the file.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import closing, contextmanager
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError

from goodwill.customers.models import Customer
from goodwill.db import Database, sqlite_inline
from goodwill.db.engine import sqlite_path
from goodwill.db.group_commit import MAX_BATCH, GroupCommit
from goodwill.db.raw import Sql, insert_into, raw, raw_reads
from goodwill.ids import new_id
from goodwill.settings import Settings
from tests.conftest import SQLITE_ONLY, FakeClock, Tenant

pytestmark = SQLITE_ONLY

INSERT = insert_into(Customer.__table__)  # type: ignore[arg-type]


class Boom(Exception):
    pass


def row(tenant: Tenant, clock: FakeClock, source_id: str) -> dict[str, Any]:
    return {
        "id": new_id(),
        "workspace_id": tenant.workspace_id,
        "source_id": source_id,
        "email": None,
        "name": None,
        "metadata": {},
        "created_at": clock(),
        "updated_at": clock(),
    }


async def settled(db: Database) -> None:
    """Wait for what runs after a batch was answered (its checkpoint, if one is due)."""
    assert db._group is not None
    while db._group._commits:
        await asyncio.gather(*db._group._commits)


def durable(db: Database, tenant: Tenant) -> list[str]:
    """The customers of the workspace as another connection to the file sees them."""
    with closing(sqlite3.connect(sqlite_path(db.settings.async_database_url))) as conn:
        rows = conn.execute(
            "SELECT source_id FROM customers WHERE workspace_id = ? ORDER BY source_id",
            (tenant.workspace_id.bytes,),
        ).fetchall()
    return [r[0] for r in rows]


async def pooled(db: Database, tenant: Tenant) -> list[str]:
    """The same through one of the engine's read connections."""
    async with db.transaction(write=False) as session:
        found = await session.scalars(
            select(Customer.source_id)
            .where(Customer.workspace_id == tenant.workspace_id)
            .order_by(Customer.source_id)
        )
        return list(found)


@contextmanager
def counting_commits(db: Database) -> Iterator[list[int]]:
    """Every COMMIT of a write transaction (a savepoint's RELEASE is not one, nor the end of
    a read transaction): those of the group commit's connection, however they are sent (a
    batch of hand-written SQL commits on the driver, without SQLAlchemy)."""
    commits: list[int] = []
    original = sqlite_inline.Connection.commit

    async def commit(self: sqlite_inline.Connection) -> None:
        group = db._group
        if group is not None and self is group._driver and self.in_transaction:
            commits.append(1)
        await original(self)

    sqlite_inline.Connection.commit = commit  # type: ignore[method-assign]
    try:
        yield commits
    finally:
        sqlite_inline.Connection.commit = original  # type: ignore[method-assign]


@pytest.fixture
async def small_batches(db: Database) -> AsyncIterator[Callable[[int], None]]:
    """Give ``db`` a group commit of at most ``n`` transactions per batch."""
    assert db._group is not None
    original = db._group

    def set_max(n: int) -> None:
        db._group = GroupCommit(db.engine, asyncio.Lock(), db.shared, max_size=n)

    await original.close()  # the tenant fixture's batch: committed, its connection returned
    yield set_max
    if db._group is not original:
        await db._group.close()


async def test_concurrent_writes_share_one_commit_and_none_returns_before_it(
    db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    seen_on_return: dict[str, bool] = {}

    async def write(i: int) -> None:
        source_id = f"c{i:02d}"
        async with db.transaction() as session:
            if i % 2:
                await (await raw(session)).run(INSERT, **row(tenant, clock, source_id))
            else:
                session.add(Customer(**row(tenant, clock, source_id)))
        # Returned: the write must be on disk already, for anyone to see.
        seen_on_return[source_id] = source_id in durable(db, tenant)

    with counting_commits(db) as commits:
        await asyncio.gather(*(write(i) for i in range(10)))
    expected = [f"c{i:02d}" for i in range(10)]
    assert len(commits) == 1
    assert seen_on_return == dict.fromkeys(expected, True)
    assert durable(db, tenant) == expected
    assert await pooled(db, tenant) == expected


async def test_a_batch_holds_at_most_its_maximum(
    db: Database, tenant: Tenant, clock: FakeClock, small_batches: Callable[[int], None]
) -> None:
    small_batches(3)
    batch_of: dict[int, int] = {}

    async def write(i: int) -> None:
        async with db.transaction() as session:
            batch_of[i] = len(commits)  # the COMMITs before this one ran: its batch
            await (await raw(session)).run(INSERT, **row(tenant, clock, f"c{i}"))

    with counting_commits(db) as commits:
        await asyncio.gather(*(write(i) for i in range(7)))
    assert batch_of == {0: 0, 1: 0, 2: 0, 3: 1, 4: 1, 5: 1, 6: 2}
    assert len(commits) == 3
    assert durable(db, tenant) == [f"c{i}" for i in range(7)]


async def test_the_default_maximum_cuts_a_long_queue(
    db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    sizes: Counter[int] = Counter()

    async def write(i: int) -> None:
        async with db.transaction() as session:
            sizes[len(commits)] += 1
            await (await raw(session)).run(INSERT, **row(tenant, clock, f"c{i:03d}"))

    with counting_commits(db) as commits:
        await asyncio.gather(*(write(i) for i in range(MAX_BATCH + 36)))
    assert MAX_BATCH == 64
    assert sizes == {0: 64, 1: 36}
    assert len(commits) == 2
    assert len(durable(db, tenant)) == 100


async def test_a_failing_transaction_leaves_nothing_while_its_batch_commits(
    db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    async def ok_raw() -> str:
        async with db.transaction() as session:
            await (await raw(session)).run(INSERT, **row(tenant, clock, "ok-raw"))
        return "ok-raw"

    async def bad_raw() -> str:
        async with db.transaction() as session:
            db_raw = await raw(session)
            await db_raw.run(INSERT, **row(tenant, clock, "bad-raw"))
            await db_raw.run(
                Sql("UPDATE customers SET name = 'changed' WHERE workspace_id = :w"),
                w=tenant.workspace_id,
            )
            raise Boom

    async def bad_orm() -> str:
        async with db.transaction() as session:
            await (await raw(session)).run(INSERT, **row(tenant, clock, "bad-orm-raw"))
            session.add(Customer(**row(tenant, clock, "bad-orm")))
            await session.flush()
            await (await raw(session)).run(INSERT, **row(tenant, clock, "bad-orm-raw-2"))
            raise Boom

    async def bad_at_the_end() -> str:
        # The failure comes from the flush at the transaction's end: "ok-raw" is taken.
        async with db.transaction() as session:
            await (await raw(session)).run(INSERT, **row(tenant, clock, "bad-end-raw"))
            session.add(Customer(**row(tenant, clock, "bad-end-orm")))
            session.add(Customer(**row(tenant, clock, "ok-raw")))
        return "bad-at-the-end"

    async def cancelled() -> str:
        async with db.transaction() as session:
            await (await raw(session)).run(INSERT, **row(tenant, clock, "cancelled"))
            raise asyncio.CancelledError

    async def ok_orm() -> str:
        async with db.transaction() as session:
            session.add(Customer(**row(tenant, clock, "ok-orm")))
            await session.flush()
            customer = await session.scalar(
                select(Customer).where(
                    Customer.workspace_id == tenant.workspace_id, Customer.source_id == "ok-raw"
                )
            )
            assert customer is not None
            assert customer.name is None  # bad_raw's update was rolled back before this ran
        return "ok-orm"

    with counting_commits(db) as commits:
        results = await asyncio.gather(
            ok_raw(),
            bad_raw(),
            bad_orm(),
            bad_at_the_end(),
            cancelled(),
            ok_orm(),
            return_exceptions=True,
        )
    assert len(commits) == 1
    assert results[0] == "ok-raw"
    assert isinstance(results[1], Boom)
    assert isinstance(results[2], Boom)
    assert isinstance(results[3], IntegrityError)
    assert "UNIQUE constraint failed" in str(results[3])
    assert isinstance(results[4], asyncio.CancelledError)
    assert results[5] == "ok-orm"
    assert durable(db, tenant) == ["ok-orm", "ok-raw"]
    with closing(sqlite3.connect(sqlite_path(db.settings.async_database_url))) as conn:
        assert conn.execute(
            "SELECT name FROM customers WHERE source_id = 'ok-raw' AND workspace_id = ?",
            (tenant.workspace_id.bytes,),
        ).fetchall() == [(None,)]


async def test_core_connections_join_the_batch_in_savepoints_too(
    db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    async def core(source_id: str, fail: bool) -> None:
        async with db.connection(write=True) as conn:
            await conn.execute(Customer.__table__.insert().values(**row(tenant, clock, source_id)))
            if fail:
                raise Boom

    async def session(source_id: str) -> None:
        async with db.transaction() as s:
            await (await raw(s)).run(INSERT, **row(tenant, clock, source_id))

    with counting_commits(db) as commits:
        results = await asyncio.gather(
            core("core-ok", False),
            core("core-bad", True),
            session("session-ok"),
            return_exceptions=True,
        )
    assert len(commits) == 1
    assert results[0] is None
    assert isinstance(results[1], Boom)
    assert results[2] is None
    assert durable(db, tenant) == ["core-ok", "session-ok"]


async def test_a_commit_failing_on_a_deferred_constraint_fails_the_whole_batch(
    db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    answered: list[str] = []

    async def write(source_id: str, orm: bool = False) -> None:
        async with db.transaction() as session:
            if orm:
                session.add(Customer(**row(tenant, clock, source_id)))
            else:
                await (await raw(session)).run(INSERT, **row(tenant, clock, source_id))
        answered.append(source_id)

    async def dangling() -> None:
        # A foreign key checked only at COMMIT: the savepoint releases fine, the COMMIT fails.
        async with db.transaction() as session:
            db_raw = await raw(session)
            await db_raw.run(Sql("PRAGMA defer_foreign_keys = ON"))
            orphan = row(tenant, clock, "orphan") | {"workspace_id": new_id()}
            await db_raw.run(INSERT, **orphan)
        answered.append("orphan")

    with counting_commits(db) as commits:
        results = await asyncio.gather(
            write("first"), dangling(), write("third", orm=True), return_exceptions=True
        )
    assert len(commits) == 1  # one COMMIT tried, for the three
    assert answered == []
    for result in results:
        assert isinstance(result, IntegrityError), result
        assert "FOREIGN KEY constraint failed" in str(result)
    assert results[0] is results[1] is results[2]  # the batch's one error
    assert durable(db, tenant) == []
    with closing(sqlite3.connect(sqlite_path(db.settings.async_database_url))) as conn:
        assert conn.execute(
            "SELECT count(*) FROM customers WHERE source_id = 'orphan'"
        ).fetchall() == [(0,)]

    # The next batch starts afresh and commits.
    await write("after")
    assert durable(db, tenant) == ["after"]


async def test_an_io_error_on_commit_fails_every_transaction_of_the_batch(
    db: Database, tenant: Tenant, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_commit = sqlite_inline.Connection.commit
    failures: list[int] = []

    async def failing_once(self: sqlite_inline.Connection) -> None:
        if not failures:
            failures.append(1)
            raise sqlite3.OperationalError("disk I/O error")
        await real_commit(self)

    monkeypatch.setattr(sqlite_inline.Connection, "commit", failing_once)

    async def write(source_id: str, orm: bool = False) -> str:
        async with db.transaction() as session:
            if orm:
                session.add(Customer(**row(tenant, clock, source_id)))
                await session.flush()
            else:
                await (await raw(session)).run(INSERT, **row(tenant, clock, source_id))
        return source_id

    results = await asyncio.gather(
        write("a"), write("b", orm=True), write("c"), return_exceptions=True
    )
    assert failures == [1]
    for result in results:
        assert isinstance(result, OperationalError), result
        assert "disk I/O error" in str(result)
    assert durable(db, tenant) == []
    assert await pooled(db, tenant) == []

    assert await asyncio.gather(write("d"), write("e", orm=True)) == ["d", "e"]
    assert durable(db, tenant) == ["d", "e"]


LOST = "the write batch's transaction was lost"
BROKEN = "a write of the batch failed half-way; the batch is rolled back"


@pytest.mark.parametrize("lost_in", ["session", "core"])
@pytest.mark.parametrize("later", [None, "session", "core"])
async def test_a_batch_sqlite_rolled_back_by_itself_fails_every_transaction(
    db: Database, tenant: Tenant, clock: FakeClock, lost_in: str, later: str | None
) -> None:
    """On some I/O errors and on a full disk SQLite rolls the whole transaction back by itself:
    the transactions before in the batch lost their writes and must not be answered, and
    those after must not write outside any transaction."""

    async def write(source_id: str, path: str = "session", lose: bool = False) -> str:
        if path == "session":
            async with db.transaction() as session:
                db_raw = await raw(session)
                await db_raw.run(INSERT, **row(tenant, clock, source_id))
                if lose:
                    await db_raw.run(Sql("ROLLBACK"))  # what SQLite does on SQLITE_FULL
        else:
            async with db.connection(write=True) as conn:
                await conn.execute(
                    Customer.__table__.insert().values(**row(tenant, clock, source_id))
                )
                if lose:
                    await conn.exec_driver_sql("ROLLBACK")
        return source_id

    tasks = [write("before"), write("lost", lost_in, lose=True)]
    if later is not None:
        tasks.append(write("after", later))
    with counting_commits(db) as commits:
        results = await asyncio.gather(*tasks, return_exceptions=True)
    assert commits == []  # nothing left to commit
    assert isinstance(results[0], RuntimeError), results
    assert str(results[0]) in (LOST, BROKEN)  # either way: the batch was not committed
    assert "no such savepoint" in str(results[1])  # the one that lost the batch
    if later is not None:
        assert isinstance(results[2], RuntimeError), results
        assert str(results[2]) == LOST
    assert durable(db, tenant) == []

    assert await write("next") == "next"
    assert durable(db, tenant) == ["next"]


async def test_a_batch_is_invisible_to_other_connections_until_its_commit(
    db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    looks: list[tuple[str, list[str], list[str], list[str]]] = []

    async def write(source_id: str, orm: bool) -> None:
        async with db.transaction() as session:
            if orm:
                session.add(Customer(**row(tenant, clock, source_id)))
                await session.flush()
            else:
                await (await raw(session)).run(INSERT, **row(tenant, clock, source_id))
            inside = await session.scalars(
                select(Customer.source_id)
                .where(Customer.workspace_id == tenant.workspace_id)
                .order_by(Customer.source_id)
            )
            looks.append((source_id, list(inside), durable(db, tenant), await pooled(db, tenant)))

    with counting_commits(db) as commits:
        await asyncio.gather(write("a", False), write("b", True), write("c", False))
    assert len(commits) == 1
    # Each transaction sees the batch so far; no other connection sees any of it.
    assert looks == [
        ("a", ["a"], [], []),
        ("b", ["a", "b"], [], []),
        ("c", ["a", "b", "c"], [], []),
    ]
    assert durable(db, tenant) == ["a", "b", "c"]
    assert await pooled(db, tenant) == ["a", "b", "c"]


async def test_a_reader_polling_during_a_batch_never_sees_part_of_it(
    db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    seen: set[int] = set()
    done = asyncio.Event()

    async def reader() -> None:
        while not done.is_set():
            async with db.engine.connect() as conn:
                found = await conn.scalar(
                    select(func.count())
                    .select_from(Customer)
                    .where(Customer.workspace_id == tenant.workspace_id)
                )
                seen.add(int(found or 0))
            await asyncio.sleep(0)

    async def write(i: int) -> None:
        async with db.transaction() as session:
            await (await raw(session)).run(INSERT, **row(tenant, clock, f"c{i}"))
            await asyncio.sleep(0)  # let the reader look in the middle of the batch
            session.add(Customer(**row(tenant, clock, f"orm{i}")))
            await session.flush()
            await asyncio.sleep(0)

    polling = asyncio.create_task(reader())
    await asyncio.sleep(0)
    with counting_commits(db) as commits:
        await asyncio.gather(*(write(i) for i in range(5)))
    done.set()
    await polling
    assert len(commits) >= 1
    assert seen <= {0, 10}  # all of the batch or none of it
    assert 0 in seen
    assert len(durable(db, tenant)) == 10


async def test_dispose_commits_the_open_batch(
    settings: Settings, tenant: Tenant, clock: FakeClock
) -> None:
    own = Database(settings)
    entered = asyncio.Event()
    release = asyncio.Event()

    async def write() -> str:
        async with own.transaction() as session:
            await (await raw(session)).run(INSERT, **row(tenant, clock, "last"))
            entered.set()
            await release.wait()
        return "answered"

    writing = asyncio.create_task(write())
    await entered.wait()
    disposing = asyncio.create_task(own.dispose())
    await asyncio.sleep(0)  # dispose waits for the running transaction
    release.set()
    await disposing
    assert durable(own, tenant) == ["last"]  # on disk by the time dispose returned
    assert await writing == "answered"


async def test_the_log_is_checkpointed_after_the_answer_not_inside_a_commit(
    db: Database, tenant: Tenant, clock: FakeClock, tmp_path: Any, monkeypatch: Any
) -> None:
    """The writer never checkpoints inside its COMMIT (wal_autocheckpoint=0); once the log is
    past the threshold it is copied into the database file after the batch was answered."""
    from goodwill.db import group_commit

    monkeypatch.setattr(group_commit, "CHECKPOINT_BYTES", 1)  # any log is worth copying
    for i in range(3):
        async with db.transaction() as session:
            await (await raw(session)).run(INSERT, **row(tenant, clock, f"c{i}"))
    await settled(db)
    batcher = db._group
    assert batcher is not None
    writer = batcher._connection
    assert writer is not None
    autocheckpoint = (
        (await raw_reads(writer)).sqlite_connection().execute("PRAGMA wal_autocheckpoint")
    )
    assert autocheckpoint.fetchone() == (0,)
    # The database file alone (without its log) already holds the rows.
    path = sqlite_path(db.settings.async_database_url)
    copy = tmp_path / "copy.db"
    shutil.copyfile(path, copy)
    with closing(sqlite3.connect(copy)) as conn:
        found = conn.execute(
            "SELECT count(*) FROM customers WHERE workspace_id = ?", (tenant.workspace_id.bytes,)
        ).fetchone()
    assert found == (3,)


async def test_the_log_stays_bounded_under_steady_writes(
    db: Database, tenant: Tenant, clock: FakeClock, monkeypatch: Any
) -> None:
    """Checkpoints run with the write lock held, so they catch up and the log restarts from
    its beginning instead of growing for as long as writes keep coming."""
    from goodwill.db import group_commit

    monkeypatch.setattr(group_commit, "CHECKPOINT_BYTES", 64 * 1024)

    async def write(i: int) -> None:
        async with db.transaction() as session:
            await (await raw(session)).run(INSERT, **row(tenant, clock, f"s{i:05d}" + "x" * 150))

    for start in range(0, 3000, 30):
        await asyncio.gather(*(write(i) for i in range(start, start + 30)))
    wal = sqlite_path(db.settings.async_database_url) + "-wal"
    assert os.stat(wal).st_size < 1024 * 1024  # well over 1 MB was written through it
    assert len(durable(db, tenant)) == 3000


# Jobs (GroupCommit.run, Database.run_write): hand-written SQL queued for the next batch.


def job(tenant: Tenant, clock: FakeClock, source_id: str, fail: bool = False) -> Any:
    async def fn(db_raw: Any) -> str:
        await db_raw.run(INSERT, **row(tenant, clock, source_id))
        if fail:
            raise Boom(source_id)
        return source_id

    return fn


async def test_jobs_share_one_commit_and_none_returns_before_it(
    db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    seen_on_return: dict[str, bool] = {}

    async def write(i: int) -> None:
        source_id = await db.run_write(job(tenant, clock, f"j{i:02d}"))
        seen_on_return[source_id] = source_id in durable(db, tenant)

    with counting_commits(db) as commits:
        await asyncio.gather(*(write(i) for i in range(20)))
    expected = [f"j{i:02d}" for i in range(20)]
    assert len(commits) == 1
    assert seen_on_return == dict.fromkeys(expected, True)
    assert durable(db, tenant) == expected


async def test_a_failing_job_leaves_nothing_and_the_others_commit(
    db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    results = await asyncio.gather(
        db.run_write(job(tenant, clock, "a")),
        db.run_write(job(tenant, clock, "bad", fail=True)),
        db.run_write(job(tenant, clock, "c")),
        return_exceptions=True,
    )
    assert results[0] == "a"
    assert isinstance(results[1], Boom)
    assert results[2] == "c"
    assert durable(db, tenant) == ["a", "c"]


async def test_jobs_and_transactions_share_batches_and_neither_waits_for_ever(
    db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    """A steady stream of jobs keeps its batches going back to back; a transaction waiting for
    the lock still gets into the next batch."""
    stop = asyncio.Event()
    written: list[str] = []

    async def clicks(n: int) -> None:
        i = 0
        while not stop.is_set():
            written.append(await db.run_write(job(tenant, clock, f"j{n}-{i:04d}")))
            i += 1

    streams = [asyncio.create_task(clicks(n)) for n in range(8)]
    await asyncio.sleep(0.05)
    with counting_commits(db) as commits:
        async with db.transaction() as session:
            session.add(Customer(**row(tenant, clock, "tx")))
        during = len(commits)
    stop.set()
    await asyncio.gather(*streams)
    assert during <= 3  # joined within a batch or two of jobs
    assert set(durable(db, tenant)) == {*written, "tx"}


async def test_a_failed_commit_fails_every_job_of_its_batch(
    db: Database, tenant: Tenant, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_commit = sqlite_inline.Connection.commit
    failures: list[int] = []

    async def failing_once(self: sqlite_inline.Connection) -> None:
        if not failures:
            failures.append(1)
            raise sqlite3.OperationalError("disk I/O error")
        await real_commit(self)

    monkeypatch.setattr(sqlite_inline.Connection, "commit", failing_once)
    results = await asyncio.gather(
        *(db.run_write(job(tenant, clock, f"j{i}")) for i in range(3)),
        return_exceptions=True,
    )
    assert failures == [1]
    for result in results:
        assert isinstance(result, OperationalError | sqlite3.OperationalError), result
        assert "disk I/O error" in str(result)
    assert durable(db, tenant) == []
    assert await db.run_write(job(tenant, clock, "next")) == "next"
    assert durable(db, tenant) == ["next"]


async def test_a_job_in_a_batch_sqlite_rolled_back_is_never_answered(
    db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    async def lose(db_raw: Any) -> None:
        await db_raw.run(INSERT, **row(tenant, clock, "lost"))
        await db_raw.run(Sql("ROLLBACK"))  # what SQLite does on SQLITE_FULL

    results = await asyncio.gather(
        db.run_write(job(tenant, clock, "before")),
        db.run_write(lose),
        db.run_write(job(tenant, clock, "after")),
        return_exceptions=True,
    )
    assert all(isinstance(r, Exception) for r in results), results
    assert durable(db, tenant) == []
    assert await db.run_write(job(tenant, clock, "next")) == "next"


async def test_a_job_whose_caller_gave_up_before_it_ran_writes_nothing(
    db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    async with db.transaction() as session:  # holds the lock: the job waits in the queue
        waiting = asyncio.create_task(db.run_write(job(tenant, clock, "gone")))
        await asyncio.sleep(0)
        waiting.cancel()
        session.add(Customer(**row(tenant, clock, "tx")))
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert await db.run_write(job(tenant, clock, "next")) == "next"
    assert durable(db, tenant) == ["next", "tx"]


async def test_jobs_respect_the_batch_maximum(
    db: Database, tenant: Tenant, clock: FakeClock, small_batches: Callable[[int], None]
) -> None:
    small_batches(4)
    with counting_commits(db) as commits:
        await asyncio.gather(*(db.run_write(job(tenant, clock, f"j{i}")) for i in range(10)))
    assert len(commits) == 3
    assert len(durable(db, tenant)) == 10


async def test_dispose_waits_for_queued_jobs(
    settings: Settings, tenant: Tenant, clock: FakeClock
) -> None:
    own = Database(settings)
    writing = asyncio.create_task(own.run_write(job(tenant, clock, "last")))
    await asyncio.sleep(0)
    await own.dispose()
    assert durable(own, tenant) == ["last"]
    assert await writing == "last"


async def test_the_log_is_copied_again_only_once_it_has_grown_again(
    db: Database, tenant: Tenant, clock: FakeClock, tmp_path: Any, monkeypatch: Any
) -> None:
    """SQLite never shrinks the log file; after a checkpoint it writes over it from the start.
    So the file's size stays past the threshold, and each later commit must not copy the log
    again until the log itself has grown by the threshold."""
    from goodwill.db import group_commit

    monkeypatch.setattr(group_commit, "CHECKPOINT_BYTES", 64 * 1024)
    path = sqlite_path(db.settings.async_database_url)

    async def in_database_file() -> int:
        await settled(db)
        copy = tmp_path / "copy.db"
        shutil.copyfile(path, copy)
        with closing(sqlite3.connect(copy)) as conn:
            found = conn.execute(
                "SELECT count(*) FROM customers WHERE workspace_id = ?",
                (tenant.workspace_id.bytes,),
            ).fetchone()
        return int(found[0])

    padding = "x" * 8000  # two pages a row: the log passes 64 KB within a few commits
    written = 0
    while await in_database_file() == 0:
        async with db.transaction() as session:
            values = row(tenant, clock, f"big{written}")
            await (await raw(session)).run(INSERT, **{**values, "metadata": {"pad": padding}})
        written += 1
        assert written < 50, "the log was never copied"
    copied = await in_database_file()
    assert copied == written
    assert os.stat(path + "-wal").st_size >= 64 * 1024  # the file stays that large
    async with db.transaction() as session:
        await (await raw(session)).run(INSERT, **row(tenant, clock, "small"))
    assert await in_database_file() == copied  # one small commit: in the log only, not copied
    while await in_database_file() == copied:
        async with db.transaction() as session:
            values = row(tenant, clock, f"more{written}")
            await (await raw(session)).run(INSERT, **{**values, "metadata": {"pad": padding}})
        written += 1
        assert written < 100, "the log was never copied again"
    assert await in_database_file() == written + 1
