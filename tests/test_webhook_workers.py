"""`goodwill worker` as real processes: killed mid-delivery, stopped with SIGTERM, and two of
them sharing PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select

from goodwill.clock import utcnow
from goodwill.db import Database
from goodwill.settings import Settings
from goodwill.webhooks.models import WebhookAttempt, WebhookDelivery
from tests.conftest import POSTGRES_ONLY, FakeClock, Tenant
from tests.sink import Answer, running_sink
from tests.webhook_helpers import create_endpoint, deliveries_of, emit_event

pytestmark = pytest.mark.slow


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, log_level="warning", webhook_allow_private=True)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(utcnow())  # the worker processes run on the real clock


@pytest.fixture
def spawn(database_url: str, tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(workspace: uuid.UUID, **env: str) -> subprocess.Popen[bytes]:
        log = open(tmp_path / f"worker-{len(started)}.log", "wb")  # noqa: SIM115
        environment = {
            **os.environ,
            "GOODWILL_DATABASE_URL": database_url,
            "GOODWILL_WEBHOOK_ALLOW_PRIVATE": "true",
            "GOODWILL_WEBHOOK_POLL_SECONDS": "0.1",
            "GOODWILL_LOG_LEVEL": "info",
            **env,
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "goodwill", "worker", "--workspace", str(workspace)],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


async def _until(check: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def _all_settled(db: Database, endpoint_id: str) -> bool:
    return all(d.status == "succeeded" for d in await deliveries_of(db, endpoint_id))


async def test_a_worker_killed_mid_delivery_loses_nothing(
    client: AsyncClient,
    tenant: Tenant,
    db: Database,
    clock: FakeClock,
    spawn: Callable[..., subprocess.Popen[bytes]],
) -> None:
    with running_sink([Answer(hang=True)]) as sink:
        endpoint = await create_endpoint(client, tenant, url=sink.url())
        events = {str(await emit_event(db, tenant, clock, data={"n": n})) for n in range(5)}
        env = {"GOODWILL_WEBHOOK_LEASE_SECONDS": "3", "GOODWILL_WEBHOOK_TIMEOUT_SECONDS": "60"}
        first = spawn(tenant.workspace_id, **env)
        await _until(lambda: sink.started, 30, "the first request to reach the sink")
        first.send_signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
        assert all(d.status == "pending" for d in await deliveries_of(db, endpoint["id"]))

        second = spawn(tenant.workspace_id, **env)
        await _until(lambda: _all_settled(db, endpoint["id"]), 60, "every delivery")
        second.send_signal(signal.SIGTERM)
        assert second.wait(15) == 0
    delivered = {r.headers["webhook-id"] for r in sink.received}
    assert delivered == events  # at least once each (some twice: at-least-once)
    for d in await deliveries_of(db, endpoint["id"]):
        assert (d.status, d.locked_by) == ("succeeded", None)


async def test_sigterm_finishes_the_delivery_in_flight_then_stops(
    client: AsyncClient,
    tenant: Tenant,
    db: Database,
    clock: FakeClock,
    spawn: Callable[..., subprocess.Popen[bytes]],
) -> None:
    with running_sink(default=Answer(delay=1.5)) as sink:
        endpoint = await create_endpoint(client, tenant, url=sink.url())
        await emit_event(db, tenant, clock)
        worker = spawn(tenant.workspace_id)
        await _until(lambda: sink.started, 30, "the request to reach the sink")
        worker.send_signal(signal.SIGTERM)
        await emit_event(db, tenant, clock)  # arrives after the stop: not claimed
        assert worker.wait(15) == 0
    first, second = await deliveries_of(db, endpoint["id"])
    assert (first.status, first.attempts, first.locked_by) == ("succeeded", 1, None)
    assert (second.status, second.attempts) == ("pending", 0)
    assert len(sink.received) == 1


@POSTGRES_ONLY
async def test_two_workers_share_the_work_and_never_claim_the_same_delivery(
    client: AsyncClient,
    tenant: Tenant,
    db: Database,
    clock: FakeClock,
    spawn: Callable[..., subprocess.Popen[bytes]],
) -> None:
    count = 300
    with running_sink(default=Answer(delay=0.2)) as sink:
        endpoint = await create_endpoint(client, tenant, url=sink.url())
        for n in range(count):
            await emit_event(db, tenant, clock, data={"n": n})
        env = {"GOODWILL_WEBHOOK_BATCH_SIZE": "10"}
        workers = [spawn(tenant.workspace_id, **env), spawn(tenant.workspace_id, **env)]
        await _until(lambda: _all_settled(db, endpoint["id"]), 120, "every delivery")
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            assert worker.wait(15) == 0
    ids = [r.headers["webhook-id"] for r in sink.received]
    assert len(ids) == count
    assert len(set(ids)) == count  # none sent twice
    async with db.transaction(write=False) as session:
        per_delivery = (
            await session.execute(
                select(WebhookAttempt.delivery_id, func.count())
                .join(WebhookDelivery, WebhookDelivery.id == WebhookAttempt.delivery_id)
                .where(WebhookDelivery.endpoint_id == uuid.UUID(endpoint["id"]))
                .group_by(WebhookAttempt.delivery_id)
            )
        ).all()
        names = set(
            (
                await session.scalars(
                    select(WebhookAttempt.worker).where(
                        WebhookAttempt.workspace_id == tenant.workspace_id
                    )
                )
            ).all()
        )
    assert len(per_delivery) == count
    assert {n for _, n in per_delivery} == {1}
    assert len(names) == 2  # both took part
