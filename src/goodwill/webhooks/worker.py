"""The delivery worker: claim due deliveries in batches, send them concurrently, record outcomes.

- **Claim**: one short write transaction takes up to ``webhook_batch_size`` due deliveries of
  enabled endpoints and leases them (``locked_until``, ``locked_by``). On PostgreSQL the rows
  are selected ``FOR UPDATE SKIP LOCKED``, so concurrent workers never take the same delivery;
  on SQLite the claim runs under the write lock. A worker that dies leaves its lease behind, and
  the delivery is claimed again once the lease has run out: at-least-once.
- **Send**: every job of the batch at once over one shared HTTP client (or NATS connection).
- **Record**: one short write transaction inserts the attempts and updates the deliveries and
  endpoints, with Core statements (no ORM unit of work in the hot loop). An update only applies
  while this worker still holds the lease.
- **Disable**: an endpoint that answered 410, or that has only failed for five days, is disabled
  and a ``webhook_endpoint.disabled`` event is emitted in the same transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

import structlog
from sqlalchemy import Select, Table, and_, bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.clock import Clock, format_time, utcnow
from goodwill.db import Database
from goodwill.events.models import Event
from goodwill.events.service import emit
from goodwill.ids import new_id
from goodwill.settings import Settings
from goodwill.webhooks.client import WebhookClient
from goodwill.webhooks.delivery import (
    EventRow,
    Job,
    Outcome,
    retry_delay,
    send_http,
)
from goodwill.webhooks.fanout import forget_subscriptions
from goodwill.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from goodwill.webhooks.nats_sink import NatsPublisher
from goodwill.webhooks.ssrf import policy
from goodwill.workspaces.models import Workspace

log = structlog.get_logger("goodwill.webhooks.worker")

FAILING_LIMIT = timedelta(days=5)
LEASE_MARGIN = 5.0  # seconds kept for recording a batch before its lease runs out
WORKER_SOURCE = "urn:goodwill:webhook-worker"

D = cast(Table, WebhookDelivery.__table__)
E = cast(Table, WebhookEndpoint.__table__)
A = cast(Table, WebhookAttempt.__table__)


def worker_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{new_id().hex[-6:]}"


class Worker:
    """Delivers what is due. ``clock`` and ``client`` are parameters (a fake clock; an HTTP
    client with its own rules or resolver); ``workspace_id`` dedicates the worker to one
    workspace."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        clock: Clock = utcnow,
        client: WebhookClient | None = None,
        workspace_id: uuid.UUID | None = None,
        name: str | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.workspace_id = workspace_id
        self.name = name or worker_name()
        self.lease = timedelta(seconds=settings.webhook_lease_seconds)
        size = max(1, settings.webhook_concurrency)
        self._slots = asyncio.Semaphore(size)
        self.client = client or WebhookClient(
            policy(allow_private=settings.webhook_allow_private),
            timeout=settings.webhook_timeout_seconds,
            connections=size,
        )
        self.nats = NatsPublisher(settings.webhook_timeout_seconds)
        self._stopping = asyncio.Event()

    # -- the loop ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop claiming; the batch in flight is finished and recorded first."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self) -> None:
        log.info("worker_started", worker=self.name)
        while not self.stopping:
            try:
                done = await self.run_once()
            except Exception:  # keep delivering; the next round retries (leases protect rows)
                log.exception("worker_round_failed", worker=self.name)
                done = 0
            if done == 0 and not self.stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._stopping.wait(), timeout=self.settings.webhook_poll_seconds
                    )
        log.info("worker_stopped", worker=self.name)

    async def run_once(self) -> int:
        """Claim one batch, send it, record it; how many deliveries were attempted."""
        jobs = await self.claim()
        if not jobs:
            return 0
        # A send that waited for a free slot must still be able to finish inside the lease;
        # one that cannot start in time is handed back untried (taken again next round).
        spare = self.lease.total_seconds() - self.settings.webhook_timeout_seconds - LEASE_MARGIN
        deadline = time.monotonic() + max(0.0, spare)
        results = await asyncio.gather(*(self.send(job, deadline) for job in jobs))
        outcomes = [r for r in results if r is not None]
        untried = [job for job, r in zip(jobs, results, strict=True) if r is None]
        await self.record(outcomes, untried)
        return len(outcomes)

    async def drain(self, max_rounds: int = 100) -> int:
        """Run rounds until nothing is due (for tests and one-shot runs)."""
        total = 0
        for _ in range(max_rounds):
            done = await self.run_once()
            if done == 0:
                break
            total += done
        return total

    async def aclose(self) -> None:
        await self.client.aclose()
        await self.nats.aclose()

    async def send(self, job: Job, deadline: float | None = None) -> Outcome | None:
        """One attempt, when a slot is free; None if it could not start before ``deadline``."""
        waited = self._slots.locked()
        async with self._slots:
            if waited and deadline is not None and time.monotonic() > deadline:
                return None
            now = self.clock()  # the attempt's time, also its webhook-timestamp
            if job.kind == "nats":
                return await self.nats.publish(job, now)
            return await send_http(self.client, job, now)

    # -- claiming ---------------------------------------------------------------------------

    def _due(self, now: datetime) -> Select[Any]:
        due = (
            select(D.c.id)
            .join(E, E.c.id == D.c.endpoint_id)
            .where(
                D.c.status == "pending",
                D.c.next_attempt_at <= now,
                or_(D.c.locked_until.is_(None), D.c.locked_until <= now),
                E.c.enabled.is_(True),
            )
        )
        if self.workspace_id is not None:
            due = due.where(D.c.workspace_id == self.workspace_id)
        return due

    async def claim(self) -> list[Job]:
        now = self.clock()
        # Look before taking the write lock: an idle worker never blocks the server's writers.
        async with self.db.transaction(write=False) as session:
            if (await session.execute(self._due(now).limit(1))).first() is None:
                return []
        async with self.db.transaction() as session:
            due = (
                self._due(now).order_by(D.c.next_attempt_at).limit(self.settings.webhook_batch_size)
            )
            if self.db.dialect == "postgresql":
                due = due.with_for_update(of=D, skip_locked=True)
            ids = list((await session.execute(due)).scalars())
            if not ids:
                return []
            await session.execute(
                update(D)
                .where(D.c.id.in_(ids))
                .values(locked_until=now + self.lease, locked_by=self.name)
            )
            return await self._load(session, ids, now)

    async def _load(
        self, session: AsyncSession, ids: Sequence[uuid.UUID], now: datetime
    ) -> list[Job]:
        ev = Event.__table__
        rows = await session.execute(
            select(
                D.c.id,
                D.c.workspace_id,
                D.c.endpoint_id,
                D.c.attempts,
                E.c.kind,
                E.c.url,
                E.c.subject,
                E.c.format,
                E.c.secret,
                E.c.previous_secret,
                E.c.previous_secret_expires_at,
                Workspace.__table__.c.event_type_prefix,
                ev.c.id.label("event_id"),
                ev.c.type,
                ev.c.source,
                ev.c.subject.label("event_subject"),
                ev.c.data,
                ev.c.attributes,
                ev.c.created_at,
            )
            .join(E, E.c.id == D.c.endpoint_id)
            .join(ev, ev.c.id == D.c.event_id)
            .join(Workspace.__table__, Workspace.__table__.c.id == D.c.workspace_id)
            .where(D.c.id.in_(ids))
        )
        jobs = []
        for r in rows:
            secrets: tuple[str, ...] = (r.secret,)
            expires = r.previous_secret_expires_at
            if r.previous_secret and expires is not None and expires > now:
                secrets = (r.secret, r.previous_secret)
            event = EventRow(
                id=r.event_id,
                type=r.type,
                source=r.source,
                subject=r.event_subject,
                data=r.data,
                attributes=r.attributes or {},
                created_at=r.created_at,
            )
            jobs.append(
                Job(
                    delivery_id=r.id,
                    workspace_id=r.workspace_id,
                    endpoint_id=r.endpoint_id,
                    attempts=r.attempts,
                    kind=r.kind,
                    url=r.url,
                    subject=r.subject,
                    format=r.format,
                    secrets=secrets,
                    prefix=r.event_type_prefix,
                    event=event,
                )
            )
        return jobs

    # -- recording --------------------------------------------------------------------------

    async def record(self, outcomes: Sequence[Outcome], untried: Sequence[Job] = ()) -> None:
        now = self.clock()
        if not outcomes:
            if untried:
                async with self.db.transaction() as session:
                    await self._release(session, untried)
            return
        attempts = [self._attempt_row(o) for o in outcomes]
        updates = [self._delivery_update(o) for o in outcomes]
        succeeded = {o.job.endpoint_id for o in outcomes if o.succeeded}
        failed = {o.job.endpoint_id for o in outcomes if not o.succeeded} - succeeded
        gone = {o.job.endpoint_id: o for o in outcomes if o.gone}
        async with self.db.transaction() as session:
            await self._release(session, untried)
            await session.execute(insert(A), attempts)
            await session.execute(
                update(D)
                .where(D.c.id == bindparam("b_id"), D.c.locked_by == self.name)
                .values(
                    status=bindparam("b_status"),
                    attempts=bindparam("b_attempts"),
                    next_attempt_at=bindparam("b_next"),
                    locked_until=None,
                    locked_by=None,
                    last_status_code=bindparam("b_code"),
                    last_error=bindparam("b_error"),
                    updated_at=bindparam("b_at"),
                ),
                updates,
            )
            if succeeded:
                await session.execute(
                    update(E)
                    .where(E.c.id.in_(succeeded), E.c.failing_since.is_not(None))
                    .values(failing_since=None)
                )
            if failed:
                await session.execute(
                    update(E)
                    .where(E.c.id.in_(failed), E.c.failing_since.is_(None))
                    .values(failing_since=now)
                )
                await self._disable_failing(session, failed, gone, now)

    async def _release(self, session: AsyncSession, jobs: Sequence[Job]) -> None:
        if jobs:
            await session.execute(
                update(D)
                .where(D.c.id.in_([j.delivery_id for j in jobs]), D.c.locked_by == self.name)
                .values(locked_until=None, locked_by=None)
            )

    def _attempt_row(self, o: Outcome) -> dict[str, Any]:
        return {
            "id": new_id(),
            "workspace_id": o.job.workspace_id,
            "delivery_id": o.job.delivery_id,
            "attempted_at": o.attempted_at,
            "succeeded": o.succeeded,
            "status_code": o.status_code,
            "latency_ms": o.latency_ms,
            "response_body": o.response_body,
            "error": o.error,
            "worker": self.name,
        }

    def _delivery_update(self, o: Outcome) -> dict[str, Any]:
        attempts = o.job.attempts + 1
        next_at = o.attempted_at
        if o.succeeded:
            status = "succeeded"
        elif o.gone:
            status = "failed"
        else:
            delay = retry_delay(attempts)
            if delay is None:
                status = "failed"
            else:
                status = "pending"
                next_at = o.attempted_at + (o.retry_after if o.retry_after is not None else delay)
        return {
            "b_id": o.job.delivery_id,
            "b_status": status,
            "b_attempts": attempts,
            "b_next": next_at,
            "b_code": o.status_code,
            "b_error": None if o.succeeded else o.error,
            "b_at": o.attempted_at,
        }

    async def _disable_failing(
        self,
        session: AsyncSession,
        failed: set[uuid.UUID],
        gone: dict[uuid.UUID, Outcome],
        now: datetime,
    ) -> None:
        rows = await session.execute(
            select(E.c.id, E.c.workspace_id, E.c.url, E.c.failing_since).where(
                E.c.id.in_(failed),
                E.c.enabled.is_(True),
                or_(E.c.id.in_(gone.keys()), and_(E.c.failing_since <= now - FAILING_LIMIT)),
            )
        )
        for endpoint_id, workspace_id, url, failing_since in rows.all():
            if endpoint_id in gone:
                reason = "the endpoint answered 410 Gone"
            else:
                reason = "every delivery failed for five days"
            await session.execute(
                update(E)
                .where(E.c.id == endpoint_id)
                .values(enabled=False, disabled_reason=reason, updated_at=now)
            )
            forget_subscriptions(session)
            log.warning("webhook_endpoint_disabled", endpoint_id=str(endpoint_id), reason=reason)
            await emit(
                session,
                workspace_id=workspace_id,
                type="webhook_endpoint.disabled",
                source=WORKER_SOURCE,
                subject=endpoint_id,
                data={
                    "endpoint_id": str(endpoint_id),
                    "url": url,
                    "reason": reason,
                    "failing_since": format_time(failing_since or now),
                    "disabled_at": format_time(now),
                },
                now=now,
            )
