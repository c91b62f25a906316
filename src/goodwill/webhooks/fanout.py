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
    stmt = select(WebhookEndpoint.id, WebhookEndpoint.event_types).where(
        WebhookEndpoint.workspace_id == workspace_id,
        WebhookEndpoint.enabled.is_(True),
        WebhookEndpoint.deleted_at.is_(None),
    )
    if only_endpoint is not None:
        stmt = stmt.where(WebhookEndpoint.id == only_endpoint)
    rows = [
        delivery_row(workspace_id, endpoint_id, event_id, now)
        for endpoint_id, patterns in (await session.execute(stmt)).all()
        if only_endpoint is not None or (event_type != TEST_EVENT and matches(patterns, event_type))
    ]
    if rows:
        await session.execute(insert(WebhookDelivery), rows)
    return len(rows)
