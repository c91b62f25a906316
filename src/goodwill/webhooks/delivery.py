"""Sending one delivery: to an HTTP endpoint (signed with Standard Webhooks) or to NATS JetStream.

Nothing here touches the database: a :class:`Job` comes in, an :class:`Outcome` goes out, and
the worker records outcomes in batches. Retries follow :data:`SCHEDULE`.
"""

from __future__ import annotations

import email.utils
import random
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import msgspec

from goodwill import __version__
from goodwill.events.formats import render_bytes
from goodwill.webhooks import signing
from goodwill.webhooks.client import WebhookClient
from goodwill.webhooks.ssrf import Refused

# Waits after each failed attempt: 12 attempts over about three days (75.6 hours), each wait
# jittered by ±20% so that many deliveries failing together do not retry together.
SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=2),
    timedelta(hours=4),
    timedelta(hours=8),
    timedelta(hours=12),
    timedelta(hours=24),
    timedelta(hours=24),
)
MAX_ATTEMPTS = len(SCHEDULE) + 1
JITTER = 0.2
MAX_RETRY_AFTER = timedelta(hours=24)
USER_AGENT = f"Goodwill-Webhooks/{__version__}"


def retry_delay(attempts: int, rng: random.Random | None = None) -> timedelta | None:
    """The wait after the ``attempts``-th failed attempt, jittered; None once all are used."""
    if attempts >= MAX_ATTEMPTS:
        return None
    base = SCHEDULE[attempts - 1].total_seconds()
    factor = (rng or random).uniform(1 - JITTER, 1 + JITTER)
    return timedelta(seconds=base * factor)


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """``Retry-After`` as seconds or an HTTP date, capped at a day; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        wait = timedelta(seconds=int(value))
    else:
        try:
            wait = email.utils.parsedate_to_datetime(value) - now
        except (TypeError, ValueError):
            return None
    return max(timedelta(0), min(wait, MAX_RETRY_AFTER))


class EventRow(msgspec.Struct, frozen=True):
    id: uuid.UUID
    type: str
    source: str
    subject: str
    data: dict[str, Any]
    attributes: dict[str, Any]
    created_at: datetime


class Job(msgspec.Struct, frozen=True):
    """A claimed delivery and everything needed to send it."""

    delivery_id: uuid.UUID
    workspace_id: uuid.UUID
    endpoint_id: uuid.UUID
    attempts: int
    kind: str
    url: str
    subject: str | None
    format: str
    secrets: tuple[str, ...]
    prefix: str
    event: EventRow


class Outcome(msgspec.Struct):
    job: Job
    attempted_at: datetime
    succeeded: bool
    latency_ms: int
    status_code: int | None = None
    response_body: str | None = None
    error: str | None = None
    retry_after: timedelta | None = None
    gone: bool = False


def _truncate(text: str | None, limit: int = 500) -> str | None:
    return None if text is None else text[:limit]


async def send_http(client: WebhookClient, job: Job, now: datetime) -> Outcome:
    body, content_type = render_bytes(job.event, job.prefix, job.format)
    keys = [signing.secret_key(s) for s in job.secrets]
    headers = signing.headers(keys, str(job.event.id), int(now.timestamp()), body, content_type)
    headers["user-agent"] = USER_AGENT
    started = time.perf_counter()

    def done(**kw: Any) -> Outcome:
        latency = round((time.perf_counter() - started) * 1000)
        return Outcome(job=job, attempted_at=now, latency_ms=latency, **kw)

    try:
        reply = await client.post(job.url, body, headers)
    except Refused as exc:
        return done(succeeded=False, error=_truncate(f"refused: {exc}"))
    except TimeoutError:
        return done(succeeded=False, error=f"timed out after {client.timeout:g}s")
    except (aiohttp.ClientError, OSError) as exc:
        return done(succeeded=False, error=_truncate(f"{type(exc).__name__}: {exc}"))
    status = reply.status
    text = reply.body.decode("utf-8", errors="replace")
    if 200 <= status < 300:
        return done(succeeded=True, status_code=status, response_body=text)
    retry_after = parse_retry_after(reply.retry_after, now) if status in (429, 503) else None
    return done(
        succeeded=False,
        status_code=status,
        response_body=text,
        error=f"HTTP {status}",
        retry_after=retry_after,
        gone=status == 410,
    )
