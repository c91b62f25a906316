"""Publishing events to NATS JetStream, for users who outgrow webhooks.

Each event goes out with the NATS CloudEvents binding in structured mode: the payload is the
event in the endpoint's format and ``content-type`` says which
(``application/cloudevents+json`` for CloudEvents). ``Nats-Msg-Id`` is the event id, so the
stream drops a copy published again inside its duplicate window (a retry after a lost ack).
A publish counts as delivered once JetStream acknowledges it (it is stored in a stream).
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import nats
import structlog
from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError
from nats.js.errors import NoStreamResponseError

from goodwill.webhooks.delivery import Job, Outcome, failed

log = structlog.get_logger("goodwill.webhooks.nats")


class NatsPublisher:
    """One connection per NATS server, opened on first use and kept."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._connections: dict[str, NatsClient] = {}
        self._lock = asyncio.Lock()

    async def _connection(self, url: str) -> NatsClient:
        async with self._lock:
            nc = self._connections.get(url)
            if nc is None or nc.is_closed:
                nc = await nats.connect(
                    url,
                    connect_timeout=self.timeout,
                    max_reconnect_attempts=3,
                    allow_reconnect=True,
                    name="goodwill-worker",
                )
                self._connections[url] = nc
            return nc

    async def publish(self, job: Job, now: datetime) -> Outcome:
        subject = job.target.subject or "goodwill.events"
        headers = {"content-type": job.content_type, "Nats-Msg-Id": job.event_id}
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                nc = await self._connection(job.target.url)
                ack = await nc.jetstream().publish(
                    subject, job.body, timeout=self.timeout, headers=headers
                )
        except NoStreamResponseError:
            return failed(job, now, started, f"no JetStream stream stores subject {subject!r}")
        except (TimeoutError, NatsError, OSError) as exc:
            return failed(job, now, started, f"NATS {type(exc).__name__}: {exc}")
        latency = round((time.perf_counter() - started) * 1000)
        summary = f'{{"stream": "{ack.stream}", "seq": {ack.seq}, "duplicate": {str(bool(ack.duplicate)).lower()}}}'
        return Outcome(job, now, True, latency, response_body=summary)

    async def aclose(self) -> None:
        for nc in self._connections.values():
            if not nc.is_closed:
                try:
                    await nc.drain()
                except (NatsError, OSError, TimeoutError):
                    log.warning("nats_close_failed")
        self._connections.clear()
