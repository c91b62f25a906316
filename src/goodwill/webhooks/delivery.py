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

import aiohttp
import msgspec

from goodwill import __version__
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


class Target(msgspec.Struct, frozen=True):
    """An endpoint as the worker sends to it, read once per batch (its keys decoded once)."""

    id: uuid.UUID
    workspace_id: uuid.UUID
    kind: str
    url: str
    subject: str | None
    format: str
    prefix: str
    keys: tuple[bytes, ...]


class Job(msgspec.Struct, frozen=True):
    """A claimed delivery and everything needed to send it. ``body`` is the event rendered in
    the endpoint's format, once per event and format in a batch; ``event_id`` is its
    ``webhook-id``."""

    delivery_id: uuid.UUID
    attempts: int
    target: Target
    event_id: str
    body: bytes
    content_type: str


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


def failed(job: Job, now: datetime, started: float, error: str) -> Outcome:
    """An attempt that got no answer (``error`` says why, truncated to the column's size)."""
    latency = round((time.perf_counter() - started) * 1000)
    return Outcome(job, now, succeeded=False, latency_ms=latency, error=error[:500])


async def send_http(client: WebhookClient, job: Job, now: datetime) -> Outcome:
    """One signed POST; ``now`` is the attempt's time and its ``webhook-timestamp``."""
    headers = signing.headers(
        job.target.keys, job.event_id, int(now.timestamp()), job.body, job.content_type
    )
    headers["user-agent"] = USER_AGENT
    started = time.perf_counter()
    try:
        reply = await client.post(job.target.url, job.body, headers)
    except Refused as exc:
        return failed(job, now, started, f"refused: {exc}")
    except TimeoutError:
        return failed(job, now, started, f"timed out after {client.timeout:g}s")
    except (aiohttp.ClientError, OSError) as exc:
        return failed(job, now, started, f"{type(exc).__name__}: {exc}")
    latency = round((time.perf_counter() - started) * 1000)
    status = reply.status
    text = reply.body.decode("utf-8", errors="replace")
    if 200 <= status < 300:
        return Outcome(job, now, True, latency, status_code=status, response_body=text)
    retry_after = parse_retry_after(reply.retry_after, now) if status in (429, 503) else None
    return Outcome(
        job,
        now,
        False,
        latency,
        status_code=status,
        response_body=text,
        error=f"HTTP {status}",
        retry_after=retry_after,
        gone=status == 410,
    )
