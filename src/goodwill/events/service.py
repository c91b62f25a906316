"""Writing events into the outbox, inside the caller's transaction.

The deliveries to the workspace's subscribed webhook endpoints are created in the same
transaction (see ``goodwill.webhooks.fanout``), so nothing committed can miss its delivery.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Text, cast, func, insert
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.events.models import Event
from goodwill.http.encoding import to_builtins
from goodwill.ids import new_id
from goodwill.webhooks.fanout import fan_out


async def emit(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    type: str,
    source: str,
    subject: uuid.UUID | str,
    data: dict[str, Any],
    now: datetime,
    attributes: dict[str, Any] | None = None,
    only_endpoint: uuid.UUID | None = None,
) -> uuid.UUID:
    """Record ``type`` (e.g. ``customer.created``) caused by ``source`` (``urn:POST:/customers``).

    ``attributes`` become CloudEvents context attributes (``program_id`` goes out as
    ``programid``). ``only_endpoint`` sends the event to that one endpoint instead of every
    subscriber (the test event).
    """
    event_id = new_id()
    values: dict[str, Any] = {
        "id": event_id,
        "workspace_id": workspace_id,
        "type": type,
        "source": source,
        "subject": str(subject),
        "data": data,
        # Ids may come as UUIDs: context attributes are stored as JSON strings.
        "attributes": to_builtins(attributes or {}),
        "created_at": now,
    }
    if session.get_bind().dialect.name == "postgresql":
        values["txid"] = cast(cast(func.pg_current_xact_id(), Text), BigInteger)
    await session.execute(insert(Event).values(**values))
    await fan_out(
        session,
        workspace_id=workspace_id,
        event_id=event_id,
        event_type=type,
        now=now,
        only_endpoint=only_endpoint,
    )
    return event_id
