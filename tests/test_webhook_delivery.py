"""Delivery against a real local HTTP sink: signatures, CloudEvents, retries, disabling."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_http
from cloudevents.core.formats.json import JSONFormat
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks import Webhook, WebhookVerificationError

from goodwill.clock import format_time, utcnow
from goodwill.db import Database
from goodwill.db.packed import pack
from goodwill.events import feed
from goodwill.settings import Settings
from goodwill.webhooks import batches
from goodwill.webhooks.delivery import JITTER, MAX_ATTEMPTS, SCHEDULE
from goodwill.webhooks.worker import Worker
from tests.conftest import POSTGRES_ONLY, FakeClock, Tenant
from tests.sink import Answer, running_sink
from tests.webhook_helpers import create_endpoint, deliveries_of, emit_event, feed_caught_up


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        log_level="warning",
        webhook_allow_private=True,
        webhook_timeout_seconds=2,
    )


@pytest.fixture
def clock() -> FakeClock:
    # Standard Webhooks receivers check the timestamp against their own clock.
    return FakeClock(utcnow())


@pytest.fixture
async def worker(
    db: Database, settings: Settings, clock: FakeClock, tenant: Tenant
) -> AsyncIterator[Worker]:
    w = Worker(db, settings, clock=clock, workspace_id=tenant.workspace_id)
    yield w
    await w.aclose()


async def test_signed_cloudevent_reaches_the_sink(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock, worker: Worker
) -> None:
    with running_sink() as sink:
        endpoint = await create_endpoint(client, tenant, url=sink.url())
        event_id = await emit_event(
            db,
            tenant,
            clock,
            "purchase.created",
            data={"purchase_id": "p1", "amount": 420},
            attributes={"program_id": "prog-1", "promoter_id": "prom-1"},
        )
        assert await worker.drain() == 1
    (request,) = sink.received
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["webhook-id"] == str(event_id)
    assert headers["webhook-timestamp"] == str(int(clock().timestamp()))
    assert headers["content-type"] == "application/cloudevents+json; charset=utf-8"
    payload = Webhook(endpoint["secret"]).verify(request.body, headers)
    assert payload["data"] == {"purchase_id": "p1", "amount": 420}
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint["secret"]).verify(request.body + b" ", headers)

    event = from_http(HTTPMessage(headers=headers, body=request.body), JSONFormat())
    attributes = event.get_attributes()
    assert attributes["id"] == str(event_id)
    assert attributes["type"] == "goodwill.purchase.created"
    assert attributes["source"] == "urn:POST:/purchases"
    assert attributes["programid"] == "prog-1"
    assert attributes["promoterid"] == "prom-1"
    assert event.get_data() == {"purchase_id": "p1", "amount": 420}

    (delivery,) = await deliveries_of(db, endpoint["id"])
    assert (delivery.status, delivery.attempts, delivery.locked_by) == ("succeeded", 1, None)
    listed = await client.get(
        f"/v1/webhook-endpoints/{endpoint['id']}/deliveries", headers=tenant.headers
    )
    (out,) = listed.json()["data"]
    assert out["status"] == "succeeded"
    assert out["event_type"] == "purchase.created"
    (attempt,) = out["attempts"]
    assert attempt["status_code"] == 200
    assert attempt["response_body"] == "ok"
    assert attempt["succeeded"] is True
    assert attempt["latency_ms"] >= 0


async def test_formats_and_filters_per_endpoint(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock, worker: Worker
) -> None:
    with running_sink() as sink:
        flat = await create_endpoint(
            client, tenant, url=sink.url("/flat"), format="flat", event_types=["reward.*"]
        )
        seed = await create_endpoint(
            client, tenant, url=sink.url("/seed"), format="cloudevents_seed"
        )
        off = await create_endpoint(client, tenant, url=sink.url("/off"), enabled=False)
        await emit_event(db, tenant, clock, "customer.created", data={"id": "c1"})
        reward = await emit_event(
            db,
            tenant,
            clock,
            "reward.created",
            data={"reward_id": "r1"},
            attributes={"program_id": "p9"},
        )
        assert await worker.drain() == 3
    by_path: dict[str, list[dict[str, object]]] = {}
    for r in sink.received:
        by_path.setdefault(r.path, []).append(json.loads(r.body))
    assert by_path["/flat"] == [
        {
            "event_id": str(reward),
            "timestamp": format_time(clock()),
            "type": "reward.created",
            "reward_id": "r1",
        }
    ]
    assert sorted(str(p["type"]) for p in by_path["/seed"]) == [
        "goodwill.customer.created",
        "goodwill.reward.created",
    ]
    (seed_reward,) = [p for p in by_path["/seed"] if p["type"] == "goodwill.reward.created"]
    assert seed_reward["program_id"] == "p9"
    assert "/off" not in by_path
    assert await deliveries_of(db, off["id"]) == []
    assert len(await deliveries_of(db, flat["id"])) == 1
    assert len(await deliveries_of(db, seed["id"])) == 2


async def test_retries_follow_the_schedule_with_jitter(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock, worker: Worker
) -> None:
    big = b"x" * 5000
    script = [Answer(500, body=big), Answer(502), Answer(302, {"location": "http://127.0.0.1:1/"})]
    with running_sink(script) as sink:
        endpoint = await create_endpoint(client, tenant, url=sink.url())
        await emit_event(db, tenant, clock)
        started = clock()
        for n in range(3):
            assert await worker.drain() == 1
            (delivery,) = await deliveries_of(db, endpoint["id"])
            assert delivery.status == "pending"
            assert delivery.attempts == n + 1
            wait = (delivery.next_attempt_at - clock()).total_seconds()
            base = SCHEDULE[n].total_seconds()
            assert base * (1 - JITTER) - 0.001 <= wait <= base * (1 + JITTER) + 0.001
            assert await worker.drain() == 0  # not due yet
            clock.now = delivery.next_attempt_at
        assert await worker.drain() == 1
    assert len(sink.received) == 4  # the redirect was not followed
    (delivery,) = await deliveries_of(db, endpoint["id"])
    assert (delivery.status, delivery.attempts) == ("succeeded", 4)
    r = await client.get(
        f"/v1/webhook-endpoints/{endpoint['id']}/deliveries", headers=tenant.headers
    )
    attempts = r.json()["data"][0]["attempts"]
    assert [a["status_code"] for a in attempts] == [500, 502, 302, 200]
    assert [a["succeeded"] for a in attempts] == [False, False, False, True]
    assert attempts[0]["response_body"] == "x" * 2048  # truncated
    assert attempts[0]["error"] == "HTTP 500"
    assert attempts[0]["attempted_at"] == format_time(started)
    endpoint_now = (
        await client.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=tenant.headers)
    ).json()
    assert endpoint_now["failing_since"] is None  # cleared by the success


async def test_retry_after_is_honoured_on_429_and_503(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock, worker: Worker
) -> None:
    retry_at = clock() + timedelta(hours=3)
    http_date = retry_at.strftime("%a, %d %b %Y %H:%M:%S GMT")
    script = [
        Answer(429, {"retry-after": "120"}),
        Answer(503, {"retry-after": http_date}),
        Answer(503, {"retry-after": "999999999"}),
    ]
    with running_sink(script) as sink:
        endpoint = await create_endpoint(client, tenant, url=sink.url())
        await emit_event(db, tenant, clock)
        await worker.drain()
        (d,) = await deliveries_of(db, endpoint["id"])
        assert d.next_attempt_at == clock() + timedelta(seconds=120)
        clock.now = d.next_attempt_at
        await worker.drain()
        (d,) = await deliveries_of(db, endpoint["id"])
        assert abs(d.next_attempt_at - retry_at) < timedelta(seconds=1)
        clock.now = d.next_attempt_at
        await worker.drain()
        (d,) = await deliveries_of(db, endpoint["id"])
        assert d.next_attempt_at == clock() + timedelta(hours=24)  # capped
        clock.now = d.next_attempt_at
        await worker.drain()
    (d,) = await deliveries_of(db, endpoint["id"])
    assert (d.status, d.attempts) == ("succeeded", 4)
    assert len(sink.received) == 4


async def test_410_disables_the_endpoint_and_emits_an_event(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock, worker: Worker
) -> None:
    with running_sink(default=Answer(410)) as gone_sink, running_sink() as ops_sink:
        gone = await create_endpoint(client, tenant, url=gone_sink.url())
        ops = await create_endpoint(
            client, tenant, url=ops_sink.url(), event_types=["webhook_endpoint.disabled"]
        )
        await emit_event(db, tenant, clock)
        await emit_event(db, tenant, clock)
        await worker.drain()
        assert len(gone_sink.received) == 2
        await emit_event(db, tenant, clock)  # disabled: not even queued
        clock.advance(days=1)
        await worker.drain()
    assert len(gone_sink.received) == 2
    assert [d.status for d in await deliveries_of(db, gone["id"])] == ["failed", "failed"]
    state = (await client.get(f"/v1/webhook-endpoints/{gone['id']}", headers=tenant.headers)).json()
    assert state["enabled"] is False
    assert state["disabled_reason"] == "the endpoint answered 410 Gone"
    (notice,) = [json.loads(r.body) for r in ops_sink.received]
    assert notice["type"] == "goodwill.webhook_endpoint.disabled"
    assert notice["subject"] == gone["id"]
    assert notice["data"]["reason"] == "the endpoint answered 410 Gone"
    assert len(await deliveries_of(db, ops["id"])) == 1


async def test_an_endpoint_failing_for_five_days_is_disabled(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock, worker: Worker
) -> None:
    with running_sink(default=Answer(500)) as sink:
        endpoint = await create_endpoint(client, tenant, url=sink.url())
        first_failure = clock()
        for day in range(6):
            await emit_event(db, tenant, clock, data={"day": day})
            await worker.drain()
            state = (
                await client.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=tenant.headers)
            ).json()
            if day < 5:
                assert state["enabled"] is True, day
                assert state["failing_since"] == format_time(first_failure)
            clock.advance(days=1)
    assert state["enabled"] is False
    assert state["disabled_reason"] == "every delivery failed for five days"
    await feed_caught_up(db)
    events = (
        await client.get("/v1/events?types=webhook_endpoint.disabled", headers=tenant.headers)
    ).json()["data"]
    assert [e["subject"] for e in events] == [endpoint["id"]]
    assert events[0]["data"]["failing_since"] == format_time(first_failure)

    # Enabled again by a user: the deliveries still pending resume.
    r = await client.patch(
        f"/v1/webhook-endpoints/{endpoint['id']}", json={"enabled": True}, headers=tenant.headers
    )
    assert r.json()["enabled"] is True
    assert r.json()["failing_since"] is None
    with running_sink() as healthy:
        await client.patch(
            f"/v1/webhook-endpoints/{endpoint['id']}",
            json={"url": healthy.url()},
            headers=tenant.headers,
        )
        clock.advance(days=2)
        await worker.drain()
    assert len(healthy.received) >= 1
    assert {d.status for d in await deliveries_of(db, endpoint["id"])} <= {"succeeded", "failed"}


async def test_a_delivery_fails_for_good_after_the_last_attempt_then_recover(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock, worker: Worker
) -> None:
    total = sum((s for s in SCHEDULE), timedelta())
    assert timedelta(days=2.5) < total < timedelta(days=3.5)  # "about three days"
    with running_sink(default=Answer(500)) as sink:
        endpoint = await create_endpoint(client, tenant, url=sink.url())
        since = clock()
        event_id = await emit_event(db, tenant, clock)
        for _ in range(MAX_ATTEMPTS):
            assert await worker.drain() == 1
            (d,) = await deliveries_of(db, endpoint["id"])
            clock.now = max(clock.now, d.next_attempt_at)
        assert await worker.drain() == 0
        (d,) = await deliveries_of(db, endpoint["id"])
        assert (d.status, d.attempts) == ("failed", MAX_ATTEMPTS)
        assert len(sink.received) == MAX_ATTEMPTS
        sink.default = Answer(204)
        r = await client.post(
            f"/v1/webhook-endpoints/{endpoint['id']}/recover",
            json={"since": format_time(since)},
            headers=tenant.headers,
        )
        assert r.status_code == 202, r.text
        assert len(r.json()["deliveries"]) == 1
        again = await client.post(
            f"/v1/webhook-endpoints/{endpoint['id']}/recover",
            json={"since": format_time(since)},
            headers=tenant.headers,
        )
        assert again.json()["deliveries"] == []  # already queued
        assert await worker.drain() == 1
    assert json.loads(sink.received[-1].body)["id"] == str(event_id)
    statuses = [d.status for d in await deliveries_of(db, endpoint["id"])]
    assert statuses == ["failed", "succeeded"]


async def test_resend_and_test_event(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock, worker: Worker
) -> None:
    with running_sink() as sink:
        a = await create_endpoint(client, tenant, url=sink.url("/a"))
        b = await create_endpoint(client, tenant, url=sink.url("/b"), event_types=["reward.*"])
        event_id = await emit_event(db, tenant, clock, "reward.paid")
        await worker.drain()
        r = await client.post(f"/v1/events/{event_id}/resend", json={}, headers=tenant.headers)
        assert r.status_code == 202
        assert len(r.json()["deliveries"]) == 2
        r = await client.post(
            f"/v1/events/{event_id}/resend", json={"endpoint_id": b["id"]}, headers=tenant.headers
        )
        assert len(r.json()["deliveries"]) == 1
        t = await client.post(f"/v1/webhook-endpoints/{a['id']}/test", headers=tenant.headers)
        assert t.status_code == 202
        await worker.drain()
    paths = sorted(r.path for r in sink.received)
    assert paths == ["/a", "/a", "/a", "/b", "/b", "/b"]
    payloads = [json.loads(r.body) for r in sink.received]
    (test_payload,) = [p for p in payloads if p["type"] == "goodwill.webhook_endpoint.test"]
    assert test_payload["id"] == t.json()["event_id"]
    assert test_payload["source"] == f"urn:POST:/webhook-endpoints/{a['id']}/test"


async def test_deleting_an_endpoint_cancels_what_it_had_pending(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock, worker: Worker
) -> None:
    with running_sink() as sink:
        doomed = await create_endpoint(client, tenant, url=sink.url("/doomed"))
        kept = await create_endpoint(client, tenant, url=sink.url("/kept"))
        for _ in range(2):
            await emit_event(db, tenant, clock)
        r = await client.delete(f"/v1/webhook-endpoints/{doomed['id']}", headers=tenant.headers)
        assert r.status_code == 200
        assert await worker.drain() == 2  # the kept endpoint's two
        await emit_event(db, tenant, clock)  # after the delete: not even queued for it
        assert await worker.drain() == 1
    assert [r.path for r in sink.received] == ["/kept"] * 3
    assert [
        (d.status, d.attempts, d.last_error) for d in await deliveries_of(db, doomed["id"])
    ] == [
        ("cancelled", 0, "endpoint deleted"),
        ("cancelled", 0, "endpoint deleted"),
    ]
    assert {d.status for d in await deliveries_of(db, kept["id"])} == {"succeeded"}


async def test_rotated_secret_signs_with_both_for_a_day(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock, worker: Worker
) -> None:
    with running_sink() as sink:
        endpoint = await create_endpoint(client, tenant, url=sink.url())
        old = endpoint["secret"]
        r = await client.post(
            f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret", headers=tenant.headers
        )
        new = r.json()["secret"]
        assert new.startswith("whsec_")
        assert new != old
        assert r.json()["previous_secret_expires_at"] == format_time(clock() + timedelta(hours=24))
        await emit_event(db, tenant, clock)
        await worker.drain()
        clock.advance(hours=24, seconds=1)
        await emit_event(db, tenant, clock)
        await worker.drain()
    first, second = sink.received
    h1 = {k.lower(): v for k, v in first.headers.items()}
    assert len(h1["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(first.body, h1)
    Webhook(new).verify(first.body, h1)
    h2 = {k.lower(): v for k, v in second.headers.items()}
    assert len(h2["webhook-signature"].split(" ")) == 1
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(second.body, h2)


async def test_timeouts_are_recorded_failures(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock, worker: Worker
) -> None:
    with running_sink([Answer(delay=3)]) as sink:
        endpoint = await create_endpoint(client, tenant, url=sink.url())
        await emit_event(db, tenant, clock)
        await worker.drain()
    (d,) = await deliveries_of(db, endpoint["id"])
    assert d.status == "pending"
    assert d.last_error == "timed out after 2s"
    assert d.last_status_code is None


async def test_delivery_refuses_private_addresses_unless_allowed(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock, settings: Settings
) -> None:
    strict = Worker(
        db,
        Settings(database_url=settings.database_url, webhook_allow_private=False),
        clock=clock,
        workspace_id=tenant.workspace_id,
    )
    try:
        with running_sink() as sink:
            endpoint = await create_endpoint(client, tenant, url=sink.url())
            await emit_event(db, tenant, clock)
            assert await strict.drain() == 1
        assert sink.received == []
    finally:
        await strict.aclose()
    (d,) = await deliveries_of(db, endpoint["id"])
    assert d.status == "pending"
    assert d.last_error is not None
    assert d.last_error.startswith("refused: must be an https:// URL")


async def test_lease_blocks_a_second_claim_until_it_runs_out(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock, settings: Settings
) -> None:
    first = Worker(db, settings, clock=clock, workspace_id=tenant.workspace_id, name="first")
    second = Worker(db, settings, clock=clock, workspace_id=tenant.workspace_id, name="second")
    try:
        with running_sink() as sink:
            endpoint = await create_endpoint(client, tenant, url=sink.url())
            await emit_event(db, tenant, clock)
            jobs = await first.claim()  # ...and then the first worker dies
            assert len(jobs) == 1
            assert await second.claim() == []
            clock.advance(seconds=settings.webhook_lease_seconds + 1)
            assert await second.drain() == 1
        (d,) = await deliveries_of(db, endpoint["id"])
        assert (d.status, d.attempts) == ("succeeded", 1)
        # The first worker's late result does not overwrite the second's.
        outcome = await first.send(jobs[0])
        assert outcome is not None
        await first.record([outcome])
        (d,) = await deliveries_of(db, endpoint["id"])
        assert (d.status, d.attempts) == ("succeeded", 1)
    finally:
        await first.aclose()
        await second.aclose()


@POSTGRES_ONLY
async def test_a_backlog_is_claimed_from_the_index_not_sorted_whole(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock
) -> None:
    """A burst queued since the table was last analyzed: the planner believes few deliveries
    are due and would read every due row to sort them for each batch. The claim reads them
    from ``(status, next_attempt_at)`` in due order instead, and takes the oldest first."""
    endpoint = await create_endpoint(client, tenant, url="http://127.0.0.1:9/hook")
    start = clock() - timedelta(minutes=5)
    async with db.engine.connect() as conn:  # the burst and the statistics are undone
        transaction = await conn.begin()
        session = AsyncSession(bind=conn)
        try:
            await session.execute(text("ANALYZE webhook_deliveries"))  # before the burst
            # 50,000 due deliveries, one a millisecond: as many as a backlog the worker drains.
            await session.execute(
                text(
                    "WITH e AS (INSERT INTO events (id, workspace_id, body, created_at) "
                    "SELECT gen_random_uuid(), :w, :body, "
                    "CAST(:start AS timestamptz) + n * interval '1 millisecond' "
                    "FROM generate_series(0, 49999) n RETURNING id, created_at) "
                    "INSERT INTO webhook_deliveries (id, workspace_id, endpoint_id, event_id, "
                    "status, attempts, next_attempt_at, created_at, updated_at) "
                    "SELECT gen_random_uuid(), :w, :endpoint, e.id, 'pending', 0, "
                    "e.created_at, e.created_at, e.created_at FROM e"
                ),
                {
                    "w": tenant.workspace_id,
                    "endpoint": uuid.UUID(endpoint["id"]),
                    "start": start,
                    "body": pack([["reward.created", "urn:POST:/test", "s", {}, {}]]),
                },
            )
            await batches.read_due_in_order(session)
            stmt = batches.pick(session, clock(), 200, tenant.workspace_id)
            compiled = stmt.compile(dialect=session.get_bind().dialect)
            params = tuple(compiled.params[name] for name in compiled.positiontup or ())
            rows = await conn.exec_driver_sql(f"EXPLAIN {compiled.string}", params)
            plan = "\n".join(row[0] for row in rows)
            claimed = [row[2] for row in (await session.execute(stmt)).all()]
            times = {e.created_at for e in (await feed.by_ids(session, claimed)).values()}
        finally:
            await session.close()
            await transaction.rollback()
    assert "Sort" not in plan, plan
    assert "ix_webhook_deliveries_status_next_attempt_at" in plan, plan
    assert times == {start + timedelta(milliseconds=n) for n in range(200)}  # due longest
    assert await deliveries_of(db, endpoint["id"]) == []


async def test_sends_that_cannot_finish_inside_the_lease_are_handed_back_untried(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock, settings: Settings
) -> None:
    tight = Settings(
        database_url=settings.database_url,
        webhook_allow_private=True,
        webhook_concurrency=1,
        webhook_timeout_seconds=2,
        webhook_lease_seconds=7,  # 2 s to send + 5 s to record: no time to wait for a slot
    )
    worker = Worker(db, tight, clock=clock, workspace_id=tenant.workspace_id)
    try:
        with running_sink(default=Answer(delay=0.2)) as sink:
            endpoint = await create_endpoint(client, tenant, url=sink.url())
            for _ in range(3):
                await emit_event(db, tenant, clock)
            assert await worker.run_once() == 1
            deliveries = await deliveries_of(db, endpoint["id"])
            assert sorted(d.attempts for d in deliveries) == [0, 0, 1]
            assert all(d.locked_by is None for d in deliveries)  # the others were released
            assert await worker.run_once() == 1
            assert await worker.run_once() == 1
        assert len(sink.received) == 3
        assert {d.status for d in await deliveries_of(db, endpoint["id"])} == {"succeeded"}
    finally:
        await worker.aclose()


async def test_after_a_410_the_endpoints_other_claimed_jobs_are_not_sent(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock, settings: Settings
) -> None:
    one_lane = Settings(
        database_url=settings.database_url,
        webhook_allow_private=True,
        webhook_concurrency=1,
        webhook_timeout_seconds=2,
    )
    worker = Worker(db, one_lane, clock=clock, workspace_id=tenant.workspace_id)
    try:
        with running_sink(default=Answer(410)) as sink:
            endpoint = await create_endpoint(client, tenant, url=sink.url())
            for _ in range(3):
                await emit_event(db, tenant, clock)
            assert await worker.drain() == 1
        assert len(sink.received) == 1
        deliveries = await deliveries_of(db, endpoint["id"])
        assert sorted((d.status, d.attempts) for d in deliveries) == [
            ("failed", 1),
            ("pending", 0),  # handed back; they wait for the endpoint to be enabled again
            ("pending", 0),
        ]
        assert all(d.locked_by is None for d in deliveries)
    finally:
        await worker.aclose()


async def test_batches_claimed_ahead_deliver_everything_once(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock, settings: Settings
) -> None:
    small = Settings(
        database_url=settings.database_url,
        webhook_allow_private=True,
        webhook_batch_size=3,
        webhook_concurrency=2,
        webhook_timeout_seconds=2,
    )
    worker = Worker(db, small, clock=clock, workspace_id=tenant.workspace_id)
    try:
        with running_sink() as sink:
            endpoint = await create_endpoint(client, tenant, url=sink.url())
            events = {str(await emit_event(db, tenant, clock, data={"n": n})) for n in range(10)}
            assert await worker.drain() == 10
            assert await worker.drain() == 0
        assert sorted(r.headers["webhook-id"] for r in sink.received) == sorted(events)
        deliveries = await deliveries_of(db, endpoint["id"])
        assert {(d.status, d.attempts, d.locked_by) for d in deliveries} == {("succeeded", 1, None)}
    finally:
        await worker.aclose()


async def test_stopping_hands_back_the_batch_claimed_ahead(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock, settings: Settings
) -> None:
    small = Settings(
        database_url=settings.database_url,
        webhook_allow_private=True,
        webhook_batch_size=2,
        webhook_timeout_seconds=2,
    )
    worker = Worker(db, small, clock=clock, workspace_id=tenant.workspace_id)
    try:
        with running_sink(default=Answer(delay=0.5)) as sink:
            endpoint = await create_endpoint(client, tenant, url=sink.url())
            for _ in range(4):
                await emit_event(db, tenant, clock)
            draining = asyncio.create_task(worker.drain())
            for _ in range(500):  # the first batch reaches the sink
                if len(sink.started) == 2:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)  # the next batch is claimed while these are answered
            worker.stop()
            assert await draining == 2
        assert len(sink.received) == 2
        deliveries = await deliveries_of(db, endpoint["id"])
        assert sorted((d.status, d.attempts, d.locked_by) for d in deliveries) == [
            ("pending", 0, None),
            ("pending", 0, None),
            ("succeeded", 1, None),
            ("succeeded", 1, None),
        ]
    finally:
        await worker.aclose()


async def test_recover_takes_the_events_from_the_millisecond_of_since_on(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock
) -> None:
    """Recovery finds its events through their ids, which carry the events' times: an event at
    exactly ``since`` is taken, one a millisecond before is not."""
    before = await emit_event(db, tenant, clock)
    since = clock.advance(milliseconds=1)
    at = await emit_event(db, tenant, clock)
    clock.advance(days=3)
    later = await emit_event(db, tenant, clock)
    async with db.transaction(write=False) as session:
        stored = {
            e.id: e.created_at for e in (await feed.by_ids(session, [before, at, later])).values()
        }
    assert len(stored) == 3
    assert all(i.int >> 80 == int(t.timestamp() * 1000) for i, t in stored.items())
    with running_sink(default=Answer(204)) as sink:
        # Created after the events: none of them was queued for it when it happened.
        endpoint = await create_endpoint(client, tenant, url=sink.url())
        r = await client.post(
            f"/v1/webhook-endpoints/{endpoint['id']}/recover",
            json={"since": format_time(since)},
            headers=tenant.headers,
        )
        assert r.status_code == 202, r.text
    queued = {d.event_id for d in await deliveries_of(db, endpoint["id"])}
    assert queued == {at, later}
