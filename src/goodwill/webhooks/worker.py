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
from typing import NamedTuple

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


class Batch(NamedTuple):
    """Claimed jobs; the (monotonic) time after which a job not yet started is handed back
    untried, as it could no longer finish inside the lease; whether the batch is sent as soon as
    it is claimed (then each lane's first job is sent whatever the time: it did not wait)."""

    jobs: list[Job]
    deadline: float
    prompt: bool


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
        # Endpoints that answered 410 (monotonic time until which their jobs are not sent):
        # recording disables them, but jobs claimed before that are not sent either.
        self._gone: dict[uuid.UUID, float] = {}

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
                await self._deliver(None)
            except Exception:  # keep delivering; the next round retries (leases protect rows)
                log.exception("worker_round_failed", worker=self.name)
            if not self.stopping:  # nothing is due (or the database failed): wait a little
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._stopping.wait(), timeout=self.settings.webhook_poll_seconds
                    )
        log.info("worker_stopped", worker=self.name)

    async def run_once(self) -> int:
        """Claim one batch, send it, record it; how many deliveries were attempted."""
        return await self._deliver(1)

    async def drain(self, max_rounds: int = 100) -> int:
        """Send batches until nothing is due (for tests and one-shot runs); how many
        deliveries were attempted."""
        return await self._deliver(max_rounds)

    async def _deliver(self, max_rounds: int | None) -> int:
        """Batches until nothing is due, ``max_rounds`` were sent, or the worker stops.

        The next batch is claimed while one is being sent, and a sent batch is recorded while
        the next one is being sent, so the database's round trips (and PostgreSQL's work)
        overlap the HTTP requests. A claimed batch that will not be sent (the worker stops,
        or a round failed) is handed back untried at once rather than left to its lease.
        """
        total = 0
        rounds = 0
        spare = self.lease.total_seconds() - self.settings.webhook_timeout_seconds - LEASE_MARGIN
        # A batch claimed ahead waits for the one being sent, so it needs lease time to spare.
        ahead = spare >= LEASE_MARGIN
        batch = None if self.stopping else await self._claim(prompt=True)
        claiming: asyncio.Task[Batch | None] | None = None
        recording: asyncio.Task[None] | None = None
        try:
            while batch is not None:
                rounds += 1
                more = max_rounds is None or rounds < max_rounds
                if more and ahead and not self.stopping:
                    claiming = asyncio.create_task(self._claim(prompt=False))
                results = await self._send_all(batch)
                sent, batch = batch, None
                if recording is not None:
                    await recording
                recording = asyncio.create_task(self._record(sent, results))
                total += sum(r is not None for r in results)
                if claiming is not None:
                    batch, claiming = await claiming, None
                if batch is None and more and not self.stopping:
                    # Nothing was due when the claim looked, during the send: look again once
                    # the batch is recorded (recording may queue an event; time has passed).
                    await recording
                    recording = None
                    batch = await self._claim(prompt=True)
                if batch is not None and self.stopping:
                    await self.record([], batch.jobs)
                    batch = None
        finally:
            if claiming is not None:  # a round failed while the next batch was claimed
                batch = await claiming
            if batch is not None:
                await self.record([], batch.jobs)
            if recording is not None:
                await recording
        return total

    async def aclose(self) -> None:
        await self.client.aclose()
        await self.nats.aclose()

    async def _claim(self, *, prompt: bool) -> Batch | None:
        started = time.monotonic()
        jobs = await self.claim()
        if not jobs:
            return None
        # A send that waits must still be able to finish inside the lease; one that cannot
        # start in time is handed back untried (and taken again later).
        spare = self.lease.total_seconds() - self.settings.webhook_timeout_seconds - LEASE_MARGIN
        return Batch(jobs, started + max(0.0, spare), prompt)

    async def _send_all(self, batch: Batch) -> list[Outcome | None]:
        """Send the batch over ``concurrency`` lanes. A job whose turn comes after the batch's
        deadline, or whose endpoint has just answered 410, stays None (untried)."""
        jobs = batch.jobs
        results: list[Outcome | None] = [None] * len(jobs)
        turns = iter(range(len(jobs)))
        firsts = [next(turns) for _ in range(min(self.concurrency, len(jobs)))]

        def gone(job: Job) -> bool:
            return bool(self._gone) and self._gone.get(job.target.id, 0.0) > time.monotonic()

        async def lane(first: int) -> None:
            if (batch.prompt or time.monotonic() <= batch.deadline) and not gone(jobs[first]):
                results[first] = await self.send(jobs[first])
            for turn in turns:
                if time.monotonic() > batch.deadline:
                    return
                if not gone(jobs[turn]):
                    results[turn] = await self.send(jobs[turn])

        async with asyncio.TaskGroup() as lanes:
            for first in firsts:
                lanes.create_task(lane(first))
        return results

    async def _record(self, batch: Batch, results: Sequence[Outcome | None]) -> None:
        outcomes = [r for r in results if r is not None]
        untried = [job for job, r in zip(batch.jobs, results, strict=True) if r is None]
        await self.record(outcomes, untried)

    async def send(self, job: Job) -> Outcome:
        """One attempt, signed with the time it starts."""
        now = self.clock()
        if job.target.kind == "nats":
            return await self.nats.publish(job, now)
        outcome = await send_http(self.client, job, now)
        if outcome.gone:
            # Long enough for every batch claimed before the endpoint is disabled to be sent.
            now_m = time.monotonic()
            if len(self._gone) > 1000:
                self._gone = {k: until for k, until in self._gone.items() if until > now_m}
            self._gone[job.target.id] = now_m + self.lease.total_seconds()
        return outcome

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
