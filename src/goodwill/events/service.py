"""Writing events into the outbox, inside the caller's transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Text, cast, func, insert
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.events.models import Event
from goodwill.ids import new_id


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
) -> uuid.UUID:
    """Record ``type`` (e.g. ``customer.created``) caused by ``source`` (``urn:POST:/customers``)."""
    event_id = new_id()
    values: dict[str, Any] = {
        "id": event_id,
        "workspace_id": workspace_id,
        "type": type,
        "source": source,
        "subject": str(subject),
        "data": data,
        "attributes": attributes or {},
        "created_at": now,
    }
    if session.get_bind().dialect.name == "postgresql":
        values["txid"] = cast(cast(func.pg_current_xact_id(), Text), BigInteger)
    await session.execute(insert(Event).values(**values))
    return event_id
