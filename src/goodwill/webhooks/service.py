"""Webhook endpoints: create, read, change, delete, rotate secrets; resend, recover and test.

Destinations are checked (:func:`check_destination`) before the request's transaction opens,
because that resolves DNS names and must not hold the database's write lock meanwhile.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from msgspec import UNSET
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.db.repository import Repository, among
from goodwill.errors import Conflict, FieldError, ValidationFailed
from goodwill.events import feed
from goodwill.events.catalog import matches, pattern_problem
from goodwill.events.models import EventGroup
from goodwill.events.service import emit, flush
from goodwill.http.pagination import fetch_page
from goodwill.ids import first_id_at, new_id
from goodwill.settings import Settings
from goodwill.webhooks import signing, ssrf
from goodwill.webhooks.fanout import TEST_EVENT, delivery_row, forget_subscriptions
from goodwill.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from goodwill.webhooks.schemas import EndpointCreate, EndpointPatch

SECRET_GRACE = timedelta(hours=24)
DEFAULT_NATS_SUBJECT = "goodwill.events"
NATS_SCHEMES = ("nats", "tls")
RECOVER_CHUNK = 1000  # event ids a recovery checks for deliveries per statement


class EndpointRepository(Repository[WebhookEndpoint]):
    model = WebhookEndpoint
    noun = "webhook endpoint"

    def select(self) -> Any:
        return super().select().where(WebhookEndpoint.deleted_at.is_(None))


def kind_of(url: str) -> str:
    try:
        scheme = urlsplit(url).scheme
    except ValueError:  # "http://[::1/": not a URL at all; the webhook checks say why
        return "webhook"
    return "nats" if scheme in NATS_SCHEMES else "webhook"


async def check_destination(url: str, kind: str, settings: Settings) -> None:
    """Refuse (422 naming ``url``) a destination Goodwill may not send to."""
    try:
        if kind == "nats":
            if kind_of(url) != "nats":
                raise ssrf.Refused("must be a nats:// URL for an endpoint of type nats")
            if url not in settings.nats_urls:
                raise ssrf.Refused(
                    "is not a NATS server this Goodwill may publish to "
                    "(the operator lists them in GOODWILL_NATS_ALLOWED_URLS)"
                )
            return
        if kind_of(url) == "nats":
            raise ssrf.Refused("is a NATS URL: create the endpoint with type nats")
        await ssrf.checked_addresses(url, ssrf.policy(allow_private=settings.webhook_allow_private))
    except ssrf.Refused as exc:
        raise ValidationFailed.single("url", str(exc)) from None


def _check_event_types(patterns: Sequence[str]) -> list[str]:
    errors = [
        FieldError(f"event_types[{i}]", "invalid", problem)
        for i, pattern in enumerate(patterns)
        if (problem := pattern_problem(pattern)) is not None
    ]
    if errors:
        raise ValidationFailed(errors)
    return list(dict.fromkeys(patterns))


async def create(
    session: AsyncSession, workspace_id: uuid.UUID, data: EndpointCreate, now: datetime
) -> WebhookEndpoint:
    event_types = _check_event_types(data.event_types)
    if data.type == "webhook" and data.subject is not None:
        raise ValidationFailed.single("subject", "applies to endpoints of type nats only")
    endpoint = WebhookEndpoint(
        id=new_id(),
        workspace_id=workspace_id,
        kind=data.type,
        url=data.url,
        subject=(data.subject or DEFAULT_NATS_SUBJECT) if data.type == "nats" else None,
        event_types=event_types,
        format=data.format,
        enabled=data.enabled,
        description=data.description,
        secret=signing.new_secret(),
        previous_secret=None,
        previous_secret_expires_at=None,
        disabled_reason=None,
        failing_since=None,
        created_at=now,
        updated_at=now,
        deleted_at=None,
    )
    session.add(endpoint)
    await session.flush()
    forget_subscriptions(session)
    return endpoint


async def get(
    session: AsyncSession, workspace_id: uuid.UUID, endpoint_id: uuid.UUID, **kw: Any
) -> WebhookEndpoint:
    return await EndpointRepository(session, workspace_id).get(endpoint_id, **kw)


async def list_(
    session: AsyncSession, workspace_id: uuid.UUID, *, limit: int, cursor: str | None
) -> tuple[Sequence[WebhookEndpoint], str | None]:
    repo = EndpointRepository(session, workspace_id)
    return await fetch_page(session, repo.select(), WebhookEndpoint.id, limit, cursor)


async def patch(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    data: EndpointPatch,
    now: datetime,
) -> WebhookEndpoint:
    endpoint = await get(session, workspace_id, endpoint_id, for_update=True)
    if data.url is not UNSET and kind_of(data.url) != endpoint.kind:
        raise ValidationFailed.single("url", f"must stay a {endpoint.kind} destination")
    if data.subject is not UNSET and endpoint.kind != "nats":
        raise ValidationFailed.single("subject", "applies to endpoints of type nats only")
    if data.event_types is not UNSET:
        endpoint.event_types = _check_event_types(data.event_types)
    for field in ("url", "subject", "format", "description"):
        value = getattr(data, field)
        if value is not UNSET:
            setattr(endpoint, field, value)
    if data.enabled is not UNSET and data.enabled != endpoint.enabled:
        endpoint.enabled = data.enabled
        endpoint.disabled_reason = None if data.enabled else "disabled by a user"
        endpoint.failing_since = None
    endpoint.updated_at = now
    await session.flush()
    forget_subscriptions(session)
    return endpoint


async def delete(
    session: AsyncSession, workspace_id: uuid.UUID, endpoint_id: uuid.UUID, now: datetime
) -> None:
    endpoint = await get(session, workspace_id, endpoint_id, for_update=True)
    endpoint.deleted_at = now
    endpoint.enabled = False
    endpoint.updated_at = now
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == "pending")
        .values(status="cancelled", updated_at=now, last_error="endpoint deleted")
    )
    await session.flush()
    forget_subscriptions(session)


async def rotate_secret(
    session: AsyncSession, workspace_id: uuid.UUID, endpoint_id: uuid.UUID, now: datetime
) -> WebhookEndpoint:
    """A new secret; the old one stays valid (deliveries carry both signatures) for 24 hours."""
    endpoint = await get(session, workspace_id, endpoint_id, for_update=True)
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + SECRET_GRACE
    endpoint.secret = signing.new_secret()
    endpoint.updated_at = now
    await session.flush()
    return endpoint


async def deliveries(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    *,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[tuple[WebhookDelivery, str, list[WebhookAttempt]]], str | None]:
    """A page of the endpoint's deliveries, newest first, each with its event type and attempts."""
    await get(session, workspace_id, endpoint_id)
    stmt = select(WebhookDelivery).where(
        WebhookDelivery.workspace_id == workspace_id, WebhookDelivery.endpoint_id == endpoint_id
    )
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    rows, next_cursor = await fetch_page(session, stmt, WebhookDelivery.id, limit, cursor)
    ids = [d.id for d in rows]
    events = await feed.by_ids(session, {d.event_id for d in rows}, workspace_id)
    attempts: dict[uuid.UUID, list[WebhookAttempt]] = {i: [] for i in ids}
    for attempt in await session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id.in_(ids))
        .order_by(WebhookAttempt.attempted_at, WebhookAttempt.id)
    ):
        attempts[attempt.delivery_id].append(attempt)
    return [(d, events[d.event_id].type, attempts[d.id]) for d in rows], next_cursor


async def _enabled(
    session: AsyncSession, workspace_id: uuid.UUID, endpoint_id: uuid.UUID, param: str | None = None
) -> WebhookEndpoint:
    repo = EndpointRepository(session, workspace_id)
    endpoint = await repo.get(endpoint_id, param=param)
    if not endpoint.enabled:
        raise Conflict(f"Webhook endpoint {endpoint_id} is disabled; enable it first", param=param)
    return endpoint


async def _schedule(session: AsyncSession, rows: list[dict[str, Any]]) -> list[uuid.UUID]:
    if rows:
        await session.execute(insert(WebhookDelivery), rows)
    return [r["id"] for r in rows]


async def resend(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    event_id: uuid.UUID,
    endpoint_id: uuid.UUID | None,
    now: datetime,
) -> list[uuid.UUID]:
    """Deliver an event again: to one endpoint, or to every enabled endpoint subscribed to it."""
    event = await feed.get(session, workspace_id, event_id)
    if endpoint_id is not None:
        endpoint = await _enabled(session, workspace_id, endpoint_id, "endpoint_id")
        return await _schedule(session, [delivery_row(workspace_id, endpoint.id, event.id, now)])
    if event.type == TEST_EVENT:
        return []
    endpoints = await session.scalars(
        EndpointRepository(session, workspace_id).select().where(WebhookEndpoint.enabled)
    )
    rows = [
        delivery_row(workspace_id, e.id, event.id, now)
        for e in endpoints
        if matches(e.event_types, event.type)
    ]
    return await _schedule(session, rows)


async def recover(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    since: datetime,
    now: datetime,
) -> list[uuid.UUID]:
    """Queue again every event since ``since`` that the endpoint subscribes to and has not
    received: its deliveries failed or were cancelled, or it was disabled when they happened."""
    if since > now:
        raise ValidationFailed.single("since", "is in the future")
    endpoint = await _enabled(session, workspace_id, endpoint_id)
    groups = await session.scalars(
        select(EventGroup)
        .where(
            # Event ids carry their time (goodwill.ids.new_id_at), and ids made before that
            # carry a later one: the id index finds the candidates, the time decides.
            EventGroup.id >= first_id_at(since),
            EventGroup.workspace_id == workspace_id,
            EventGroup.created_at >= since,
        )
        .order_by(EventGroup.seq)
    )
    wanted = [
        event_id
        for group in groups
        for event_id, type_ in group.types()
        if type_ != TEST_EVENT and matches(endpoint.event_types, type_)
    ]
    settled: set[uuid.UUID] = set()
    for start in range(0, len(wanted), RECOVER_CHUNK):
        settled.update(
            await session.scalars(
                select(WebhookDelivery.event_id).where(
                    WebhookDelivery.endpoint_id == endpoint.id,
                    among(session, WebhookDelivery.event_id, wanted[start : start + RECOVER_CHUNK]),
                    WebhookDelivery.status.in_(("succeeded", "pending")),
                )
            )
        )
    rows = [
        delivery_row(workspace_id, endpoint.id, event_id, now)
        for event_id in wanted
        if event_id not in settled
    ]
    return await _schedule(session, rows)


async def send_test(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    now: datetime,
    source: str,
) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A ``webhook_endpoint.test`` event, delivered to this endpoint only."""
    endpoint = await _enabled(session, workspace_id, endpoint_id)
    event_id = await emit(
        session,
        workspace_id=workspace_id,
        type=TEST_EVENT,
        source=source,
        subject=endpoint.id,
        data={"endpoint_id": str(endpoint.id), "message": "A test event from Goodwill"},
        now=now,
        only_endpoint=endpoint.id,
    )
    await flush(session)
    ids = await session.scalars(
        select(WebhookDelivery.id).where(WebhookDelivery.event_id == event_id)
    )
    return event_id, list(ids)
