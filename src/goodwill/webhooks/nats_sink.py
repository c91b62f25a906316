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
from typing import Any

import nats
import structlog
from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError
from nats.js.errors import NoStreamResponseError

from goodwill.events.formats import render_bytes
from goodwill.webhooks.delivery import Job, Outcome

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
        body, content_type = render_bytes(job.event, job.prefix, job.format)
        subject = job.subject or "goodwill.events"
        headers = {"content-type": content_type, "Nats-Msg-Id": str(job.event.id)}
        started = time.perf_counter()

        def done(**kw: Any) -> Outcome:
            latency = round((time.perf_counter() - started) * 1000)
            return Outcome(job=job, attempted_at=now, latency_ms=latency, **kw)

        try:
            async with asyncio.timeout(self.timeout):
                nc = await self._connection(job.url)
                ack = await nc.jetstream().publish(
                    subject, body, timeout=self.timeout, headers=headers
                )
        except NoStreamResponseError:
            return done(succeeded=False, error=f"no JetStream stream stores subject {subject!r}")
        except (TimeoutError, NatsError, OSError) as exc:
            return done(succeeded=False, error=f"NATS {type(exc).__name__}: {exc}"[:500])
        summary = f'{{"stream": "{ack.stream}", "seq": {ack.seq}, "duplicate": {str(bool(ack.duplicate)).lower()}}}'
        return done(succeeded=True, response_body=summary)

    async def aclose(self) -> None:
        for nc in self._connections.values():
            if not nc.is_closed:
                try:
                    await nc.drain()
                except (NatsError, OSError, TimeoutError):
                    log.warning("nats_close_failed")
        self._connections.clear()
