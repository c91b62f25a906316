"""Fan-out in the event's own transaction: one pending delivery per subscribed endpoint.

Because the deliveries commit with the event (and with the change that caused it), an event
cannot be recorded without its deliveries, nor a delivery exist for a change that rolled back.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.events.catalog import matches
from goodwill.ids import new_id
from goodwill.webhooks.models import WebhookDelivery, WebhookEndpoint

TEST_EVENT = "webhook_endpoint.test"


def delivery_row(
    workspace_id: uuid.UUID, endpoint_id: uuid.UUID, event_id: uuid.UUID, now: datetime
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "workspace_id": workspace_id,
        "endpoint_id": endpoint_id,
        "event_id": event_id,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "locked_until": None,
        "locked_by": None,
        "last_status_code": None,
        "last_error": None,
        "created_at": now,
        "updated_at": now,
    }


_CACHE = "goodwill.webhook_subscriptions"


async def _subscriptions(
    session: AsyncSession, workspace_id: uuid.UUID
) -> list[tuple[uuid.UUID, list[str]]]:
    """The workspace's enabled endpoints and their patterns, read once per transaction (a
    request that emits several events reads them once). Changing endpoints forgets them."""
    cache: dict[uuid.UUID, list[tuple[uuid.UUID, list[str]]]] = session.info.setdefault(_CACHE, {})
    found = cache.get(workspace_id)
    if found is None:
        rows = await session.execute(
            select(WebhookEndpoint.id, WebhookEndpoint.event_types).where(
                WebhookEndpoint.workspace_id == workspace_id,
                WebhookEndpoint.enabled.is_(True),
                WebhookEndpoint.deleted_at.is_(None),
            )
        )
        found = cache[workspace_id] = [(i, list(p)) for i, p in rows.all()]
    return found


def forget_subscriptions(session: AsyncSession) -> None:
    session.info.pop(_CACHE, None)


async def fan_out(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    event_id: uuid.UUID,
    event_type: str,
    now: datetime,
    only_endpoint: uuid.UUID | None = None,
) -> int:
    """Create the deliveries of a new event; returns how many."""
    subscriptions = await _subscriptions(session, workspace_id)
    if only_endpoint is not None:
        targets = [i for i, _ in subscriptions if i == only_endpoint]
    elif event_type == TEST_EVENT:
        targets = []
    else:
        targets = [i for i, patterns in subscriptions if matches(patterns, event_type)]
    rows = [delivery_row(workspace_id, endpoint_id, event_id, now) for endpoint_id in targets]
    if rows:
        await session.execute(insert(WebhookDelivery), rows)
    return len(rows)
