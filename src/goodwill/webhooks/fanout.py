"""Fan-out in the event's own transaction: one pending delivery per subscribed endpoint.

Because the deliveries commit with the event (and with the change that caused it), an event
cannot be recorded without its deliveries, nor a delivery exist for a change that rolled back.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.events.catalog import matches
from goodwill.ids import new_id
from goodwill.workspaces import config as workspace_config

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


def forget_subscriptions(session: AsyncSession) -> None:
    """After changing endpoints: this transaction reads the subscriptions again."""
    workspace_config.forget(session)


def deliveries_for(
    subscriptions: Sequence[tuple[uuid.UUID, Sequence[str]]],
    *,
    workspace_id: uuid.UUID,
    event_id: uuid.UUID,
    event_type: str,
    now: datetime,
    only_endpoint: uuid.UUID | None = None,
) -> list[dict[str, Any]]:
    """The pending deliveries of a new event: one per subscribed endpoint."""
    if only_endpoint is not None:
        targets = [i for i, _ in subscriptions if i == only_endpoint]
    elif event_type == TEST_EVENT:
        targets = []
    else:
        targets = [i for i, patterns in subscriptions if matches(patterns, event_type)]
    return [delivery_row(workspace_id, endpoint_id, event_id, now) for endpoint_id in targets]
