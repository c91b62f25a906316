"""Publishing to NATS JetStream (the local server at 127.0.0.1:4222) from the outbox."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import nats
import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_http
from cloudevents.core.formats.json import JSONFormat
from httpx import AsyncClient
from nats.js.client import JetStreamContext

from goodwill.db import Database
from goodwill.settings import Settings
from goodwill.webhooks.worker import Worker
from tests.conftest import FakeClock, Tenant
from tests.webhook_helpers import NATS_URL, create_endpoint, deliveries_of, emit_event


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        log_level="warning",
        nats_allowed_urls=f"{NATS_URL}, nats://127.0.0.1:4333",
        webhook_timeout_seconds=3,
    )


@pytest.fixture
async def stream() -> AsyncIterator[tuple[JetStreamContext, str, str]]:
    """A JetStream stream of its own for the test: (context, stream name, subject)."""
    nc = await nats.connect(NATS_URL)
    js = nc.jetstream()
    tag = uuid.uuid4().hex[:10]
    name, subject = f"GOODWILL_TEST_{tag}", f"goodwill.test.{tag}"
    await js.add_stream(name=name, subjects=[subject])
    try:
        yield js, name, subject
    finally:
        await js.delete_stream(name)
        await nc.close()


async def test_events_are_published_as_structured_cloudevents(
    client: AsyncClient,
    tenant: Tenant,
    db: Database,
    clock: FakeClock,
    stream: tuple[JetStreamContext, str, str],
) -> None:
    js, name, subject = stream
    endpoint = await create_endpoint(client, tenant, url=NATS_URL, type="nats", subject=subject)
    settings = db.settings
    ids = [
        str(
            await emit_event(
                db, tenant, clock, "purchase.created", data={"n": n}, attributes={"program_id": "p"}
            )
        )
        for n in range(3)
    ]
    worker = Worker(db, settings, clock=clock, workspace_id=tenant.workspace_id)
    try:
        assert await worker.drain() == 3
        received = []
        for seq in range(1, 4):
            msg = await js.get_msg(name, seq)
            assert msg.headers is not None
            assert msg.headers["content-type"] == "application/cloudevents+json; charset=utf-8"
            event = from_http(
                HTTPMessage(headers=dict(msg.headers), body=msg.data or b""), JSONFormat()
            )
            assert msg.headers["Nats-Msg-Id"] == event.get_attributes()["id"]
            assert event.get_attributes()["type"] == "goodwill.purchase.created"
            assert event.get_attributes()["programid"] == "p"
            received.append((event.get_attributes()["id"], event.get_data()))
        assert sorted(received, key=lambda r: r[1]["n"]) == [(ids[n], {"n": n}) for n in range(3)]
        for d in await deliveries_of(db, endpoint["id"]):
            assert (d.status, d.attempts) == ("succeeded", 1)

        # Published again (a resend, or a retry after a lost ack): the stream keeps one copy.
        r = await client.post(
            f"/v1/events/{ids[0]}/resend",
            json={"endpoint_id": endpoint["id"]},
            headers=tenant.headers,
        )
        assert r.status_code == 202
        assert await worker.drain() == 1
        info = await js.stream_info(name)
        assert info.state.messages == 3
        listing = await client.get(
            f"/v1/webhook-endpoints/{endpoint['id']}/deliveries?limit=1", headers=tenant.headers
        )
        (attempt,) = listing.json()["data"][0]["attempts"]
        assert attempt["succeeded"] is True
        assert json.loads(attempt["response_body"])["duplicate"] is True
    finally:
        await worker.aclose()


async def test_a_subject_no_stream_stores_is_a_recorded_failure(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock, settings: Settings
) -> None:
    endpoint = await create_endpoint(
        client, tenant, url=NATS_URL, type="nats", subject=f"nowhere.{uuid.uuid4().hex}"
    )
    await emit_event(db, tenant, clock)
    worker = Worker(db, settings, clock=clock, workspace_id=tenant.workspace_id)
    try:
        assert await worker.drain() == 1
    finally:
        await worker.aclose()
    (d,) = await deliveries_of(db, endpoint["id"])
    assert d.status == "pending"
    assert d.attempts == 1
    assert d.last_error is not None
    assert d.last_error.startswith("no JetStream stream stores subject")


async def test_an_unreachable_server_is_a_recorded_failure(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock, settings: Settings
) -> None:
    endpoint = await create_endpoint(client, tenant, url="nats://127.0.0.1:4333", type="nats")
    await emit_event(db, tenant, clock)
    worker = Worker(db, settings, clock=clock, workspace_id=tenant.workspace_id)
    try:
        assert await worker.drain() == 1
    finally:
        await worker.aclose()
    (d,) = await deliveries_of(db, endpoint["id"])
    assert (d.status, d.attempts) == ("pending", 1)
    assert d.last_error is not None
    assert d.last_error.startswith("NATS ")
