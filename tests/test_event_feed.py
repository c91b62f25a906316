"""The event feed: every event exactly once, in a stable order, even under concurrent writers
whose transactions commit out of order."""

from __future__ import annotations

import asyncio
import base64
import random
import time
import uuid
from typing import Any

from httpx import AsyncClient

from goodwill.db import Database
from goodwill.events.feed import encode_cursor
from goodwill.events.models import GROUP_SIZE
from goodwill.events.service import emit, flush
from tests.conftest import POSTGRES_ONLY, FakeClock, Tenant, count_rows, error_of
from tests.webhook_helpers import emit_event, feed_caught_up


async def _follow(
    client: AsyncClient, tenant: Tenant, after: str | None = None, **params: Any
) -> tuple[list[dict[str, Any]], str]:
    """Read the feed from ``after`` until it has nothing more ready."""
    seen: list[dict[str, Any]] = []
    while True:
        query = {**params, **({"after": after} if after else {})}
        r = await client.get("/v1/events", params=query, headers=tenant.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        seen.extend(body["data"])
        after = body["next_cursor"]
        if not body["has_more"]:
            return seen, after


async def test_pages_follow_each_other_without_gaps_or_repeats(
    client: AsyncClient, tenant: Tenant, other_tenant: Tenant, db: Database, clock: FakeClock
) -> None:
    ids = []
    for n in range(25):
        kind = "reward.created" if n % 3 else "purchase.created"
        ids.append(str(await emit_event(db, tenant, clock, kind, data={"n": n})))
        clock.advance(seconds=1)
    await emit_event(db, other_tenant, clock)
    await feed_caught_up(db)
    first = (await client.get("/v1/events?limit=10", headers=tenant.headers)).json()
    assert [e["id"] for e in first["data"]] == ids[:10]
    assert first["has_more"] is True
    seen, cursor = await _follow(client, tenant, limit=10)
    assert [e["id"] for e in seen] == ids
    assert [e["data"]["n"] for e in seen] == list(range(25))
    # At the end the cursor stays put until something new happens.
    empty = (await client.get(f"/v1/events?after={cursor}", headers=tenant.headers)).json()
    assert empty == {"data": [], "has_more": False, "next_cursor": cursor, "object": "list"}
    new = str(await emit_event(db, tenant, clock))
    await feed_caught_up(db)
    later, _ = await _follow(client, tenant, after=cursor)
    assert [e["id"] for e in later] == [new]

    purchases, _ = await _follow(client, tenant, types="purchase.created")
    assert [e["id"] for e in purchases] == ids[::3]
    rewards, _ = await _follow(client, tenant, types="reward.*", limit=3)
    assert len(rewards) == 17
    both, _ = await _follow(client, tenant, types="reward.*,purchase.created")
    assert len(both) == 26
    flat, _ = await _follow(client, tenant, format="flat", limit=100)
    assert [e["event_id"] for e in flat[:25]] == ids


async def test_the_events_of_one_transaction_share_rows_and_keep_their_own_ids_and_places(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock
) -> None:
    """One row holds up to GROUP_SIZE events of a transaction at one time; each still has its
    id (the row's plus its slot), its place in the feed, and its own answer by id."""
    count = GROUP_SIZE + 3
    async with db.transaction() as session:
        ids = [
            await emit(
                session,
                workspace_id=tenant.workspace_id,
                type="purchase.created" if n % 5 == 0 else "reward.created",
                source="urn:test",
                subject=str(n),
                data={"n": n},
                now=clock(),
            )
            for n in range(count)
        ]
    later = await emit_event(db, tenant, clock, data={"n": count})  # a transaction of its own
    await feed_caught_up(db)
    assert await count_rows(db, "events", tenant.workspace_id) == 3
    assert [i.int - ids[0].int for i in ids[:GROUP_SIZE]] == list(range(GROUP_SIZE))
    assert ids[GROUP_SIZE].int & (GROUP_SIZE - 1) == 0  # the first of the next row
    assert len({i.int >> 80 for i in ids}) == 1  # every id carries the events' millisecond

    seen, cursor = await _follow(client, tenant, limit=7)
    assert [e["id"] for e in seen] == [str(i) for i in [*ids, later]]
    assert [e["data"]["n"] for e in seen] == list(range(count + 1))
    assert [e["subject"] for e in seen[:count]] == [str(n) for n in range(count)]
    purchases, _ = await _follow(client, tenant, types="purchase.created", limit=2)
    assert [e["data"]["n"] for e in purchases] == list(range(0, count, 5))
    # Left out or not, a page's events are not read again: the cursor is past them.
    rest, _ = await _follow(client, tenant, after=cursor)
    assert rest == []
    old_cursor = base64.urlsafe_b64encode(b"e1:0:0").decode().rstrip("=")
    from_the_start, _ = await _follow(client, tenant, after=old_cursor, limit=100)
    assert len(from_the_start) == count + 1

    for n in (0, 1, GROUP_SIZE - 1, GROUP_SIZE, count - 1):
        r = await client.get(f"/v1/events/{ids[n]}", headers=tenant.headers)
        assert r.status_code == 200, r.text
        assert (r.json()["data"], r.json()["subject"]) == ({"n": n}, str(n))
    after_the_last = uuid.UUID(int=ids[-1].int + 1)  # a slot of its row that holds no event
    r = await client.get(f"/v1/events/{after_the_last}", headers=tenant.headers)
    assert r.status_code == 404


async def test_bad_feed_parameters_are_named(client: AsyncClient, tenant: Tenant) -> None:
    cases = {
        "after=nonsense": "after",
        "after=ZTE6MTp4": "after",
        "after=" + encode_cursor((2**64, 1, 0)): "after",  # beyond BIGINT: PostgreSQL would fail
        "after=" + encode_cursor((1, -1, 0)): "after",
        "after=" + encode_cursor((1, 1, GROUP_SIZE + 1)): "after",  # no row holds that many
        "after=" + base64.urlsafe_b64encode(b"e1:1:2:3").decode(): "after",
        "types=reward.creatd": "types",
        "types=Reward": "types",
        "limit=0": "limit",
        "limit=101": "limit",
        "format=xml": "format",
    }
    for query, param in cases.items():
        r = await client.get(f"/v1/events?{query}", headers=tenant.headers)
        assert r.status_code == 422, query
        assert error_of(r)["param"] == param, query
    # The largest positions a cursor can hold (BIGINT, beyond 32 bits) are fine: nothing yet.
    for far in (encode_cursor((2**40, 2**40, 0)), encode_cursor((2**63 - 1, 2**63 - 1, 64))):
        r = await client.get(f"/v1/events?after={far}", headers=tenant.headers)
        assert r.status_code == 200, r.text
        assert r.json() == {"data": [], "has_more": False, "next_cursor": far, "object": "list"}


async def test_another_workspace_sees_nothing(
    client: AsyncClient, tenant: Tenant, other_tenant: Tenant, db: Database, clock: FakeClock
) -> None:
    event_id = await emit_event(db, tenant, clock)
    assert (await client.get(f"/v1/events/{event_id}", headers=tenant.headers)).status_code == 200
    r = await client.get(f"/v1/events/{event_id}", headers=other_tenant.headers)
    assert r.status_code == 404
    assert error_of(r)["code"] == "not_found"
    feed = (await client.get("/v1/events", headers=other_tenant.headers)).json()
    assert feed["data"] == []
    r = await client.get(f"/v1/events/{uuid.uuid4()}", headers=tenant.headers)
    assert r.status_code == 404


async def test_feed_under_concurrent_writers(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock
) -> None:
    """Writers commit in random order (and some roll back) while a reader follows cursors."""
    committed: set[str] = set()
    rolled_back: set[str] = set()
    rng = random.Random(5)
    writers_done = asyncio.Event()

    class Abort(Exception):
        pass

    async def writer(w: int) -> None:
        for n in range(12):
            abort = rng.random() < 0.15
            pause = rng.random() * 0.02
            ids = []
            try:
                async with db.transaction() as session:
                    for k in range(rng.randint(1, 3)):
                        event_id = await emit(
                            session,
                            workspace_id=tenant.workspace_id,
                            type="reward.created",
                            source="urn:POST:/test",
                            subject=f"{w}-{n}-{k}",
                            data={"writer": w, "n": n, "k": k},
                            now=clock(),
                        )
                        ids.append(str(event_id))
                        await asyncio.sleep(pause)  # hold the transaction open
                    if abort:
                        raise Abort
            except Abort:
                rolled_back.update(ids)
            else:
                committed.update(ids)
            await asyncio.sleep(rng.random() * 0.005)

    seen: list[str] = []

    async def reader() -> None:
        cursor: str | None = None
        # Once the writers are done, read on until everything committed has shown up: the feed
        # holds back below the oldest transaction on the whole PostgreSQL server, which another
        # client of it (another test run) may keep open for a moment. Bounded, so a missed
        # event still fails the test.
        deadline: float | None = None
        while True:
            finished = writers_done.is_set()
            page, cursor = await _follow(client, tenant, after=cursor, limit=7)
            seen.extend(e["id"] for e in page)
            if finished:
                deadline = deadline or time.monotonic() + 10
                if committed <= set(seen) or time.monotonic() > deadline:
                    return
            await asyncio.sleep(0.003 if not finished else 0.1)

    reading = asyncio.create_task(reader())
    await asyncio.gather(*(writer(w) for w in range(6)))
    writers_done.set()
    await reading

    assert len(seen) == len(set(seen)), "an event was seen twice"
    assert set(seen) == committed, "an event was missed (or a rolled-back one shown)"
    assert not rolled_back & set(seen)
    again, _ = await _follow(client, tenant, limit=100)
    assert [e["id"] for e in again] == seen, "the order is not stable"


@POSTGRES_ONLY
async def test_a_late_commit_holds_back_later_events_instead_of_being_skipped(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock
) -> None:
    """Transaction A writes first but commits last: a naive ``seq > cursor`` reader that had
    moved past B would never see A. The feed holds B back until A has finished."""
    before = str(await emit_event(db, tenant, clock))
    await feed_caught_up(db)
    seen, cursor = await _follow(client, tenant)
    assert [e["id"] for e in seen] == [before]
    a_written = asyncio.Event()
    release_a = asyncio.Event()
    ids: dict[str, str] = {}

    async def slow_a() -> None:
        async with db.transaction() as session:
            ids["a"] = str(
                await emit(
                    session,
                    workspace_id=tenant.workspace_id,
                    type="reward.created",
                    source="urn:POST:/test",
                    subject="a",
                    data={},
                    now=clock(),
                )
            )
            await flush(session)  # written now, committed last
            a_written.set()
            await release_a.wait()

    task = asyncio.create_task(slow_a())
    await a_written.wait()
    ids["b"] = str(await emit_event(db, tenant, clock))  # commits while A is open
    page, held = await _follow(client, tenant, after=cursor)
    assert page == []
    assert held == cursor
    release_a.set()
    await task
    # The feed holds back below the oldest transaction running anywhere on the server, so
    # another client of the same PostgreSQL (another test run) can delay it a little.
    for _ in range(100):
        page, _ = await _follow(client, tenant, after=held)
        if page:
            break
        await asyncio.sleep(0.1)
    assert [e["id"] for e in page] == [ids["a"], ids["b"]]
    everything, _ = await _follow(client, tenant)
    assert [e["id"] for e in everything] == [before, ids["a"], ids["b"]]
