"""The delivery worker: claim due deliveries in batches, send them concurrently, record outcomes.

- **Claim**: one short write transaction leases up to ``webhook_batch_size`` due deliveries
  (``batches.claim``: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the write lock on SQLite). A
  worker that dies leaves its lease behind, and the delivery is claimed again once the lease has
  run out: at-least-once.
- **Send**: ``webhook_concurrency`` lanes take the batch's jobs in turn over one shared HTTP
  client (or NATS connection); each attempt is signed with the time it is sent.
- **Record**: one short write transaction stores the batch's attempts and outcomes
  (``batches.record``); an update only applies while this worker still holds the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta

import structlog

from goodwill.clock import Clock, utcnow
from goodwill.db import Database
from goodwill.ids import new_id
from goodwill.settings import Settings
from goodwill.webhooks import batches
from goodwill.webhooks.client import WebhookClient
from goodwill.webhooks.delivery import Job, Outcome, send_http
from goodwill.webhooks.nats_sink import NatsPublisher
from goodwill.webhooks.ssrf import policy

log = structlog.get_logger("goodwill.webhooks.worker")

LEASE_MARGIN = 5.0  # seconds kept for recording a batch before its lease runs out


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
        size = self.concurrency = max(1, settings.webhook_concurrency)
        self.client = client or WebhookClient(
            policy(allow_private=settings.webhook_allow_private),
            timeout=settings.webhook_timeout_seconds,
            connections=size,
        )
        self.nats = NatsPublisher(settings.webhook_timeout_seconds)
        self._stopping = asyncio.Event()
        self._full = False  # the last claim filled a batch: more is likely due

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
        # A send that waited for a free lane must still be able to finish inside the lease;
        # one that cannot start in time is handed back untried (taken again next round).
        spare = self.lease.total_seconds() - self.settings.webhook_timeout_seconds - LEASE_MARGIN
        results = await self._send_all(jobs, time.monotonic() + max(0.0, spare))
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

    async def _send_all(self, jobs: Sequence[Job], deadline: float) -> list[Outcome | None]:
        """Send the jobs over ``concurrency`` lanes; a job whose turn comes after ``deadline``
        stays None (untried)."""
        results: list[Outcome | None] = [None] * len(jobs)
        turns = iter(range(len(jobs)))
        firsts = [next(turns) for _ in range(min(self.concurrency, len(jobs)))]

        async def lane(first: int) -> None:
            results[first] = await self.send(jobs[first])
            for turn in turns:
                if time.monotonic() > deadline:
                    return
                results[turn] = await self.send(jobs[turn])

        async with asyncio.TaskGroup() as lanes:
            for first in firsts:
                lanes.create_task(lane(first))
        return results

    async def send(self, job: Job) -> Outcome:
        """One attempt, signed with the time it starts."""
        now = self.clock()
        if job.target.kind == "nats":
            return await self.nats.publish(job, now)
        return await send_http(self.client, job, now)

    # -- claiming and recording -------------------------------------------------------------

    async def claim(self) -> list[Job]:
        now = self.clock()
        if not self._full:
            # Look before taking the write lock: an idle worker never blocks the server's writers.
            async with self.db.transaction(write=False) as session:
                if not await batches.any_due(session, now, self.workspace_id):
                    return []
        async with self.db.transaction() as session:
            jobs = await batches.claim(
                session,
                worker=self.name,
                now=now,
                lease_until=now + self.lease,
                limit=self.settings.webhook_batch_size,
                workspace_id=self.workspace_id,
            )
        self._full = len(jobs) == self.settings.webhook_batch_size
        return jobs

    async def record(self, outcomes: Sequence[Outcome], untried: Sequence[Job] = ()) -> None:
        if outcomes or untried:
            now = self.clock()
            async with self.db.transaction() as session:
                await batches.record(session, self.name, outcomes, untried, now)
