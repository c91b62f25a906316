"""Writing events into the outbox, inside the caller's transaction.

:func:`emit` records an event in the transaction's outbox buffer and returns its id; the
buffer is written by :func:`flush`, which the transaction runs before it commits
(``goodwill.db``): the events and their deliveries to the webhook endpoints subscribed when
each was emitted (see ``goodwill.webhooks.fanout``), on PostgreSQL in one statement. So the
events, the deliveries and the change that caused them commit together or not at all, and a
request that emits six events pays for one round trip.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.db.packed import pack
from goodwill.db.raw import Sql, insert_into, raw
from goodwill.events.models import Event
from goodwill.http.encoding import to_builtins
from goodwill.ids import new_id_at
from goodwill.webhooks.fanout import deliveries_for
from goodwill.webhooks.models import WebhookDelivery
from goodwill.workspaces import config as workspace_config

OUTBOX = "goodwill.outbox"  # session.info key of the events not yet written
EVENTS: Table = Event.__table__  # type: ignore[assignment]
_INSERT = {
    "sqlite": insert_into(EVENTS),
    # The writing transaction's id orders the feed (goodwill.events.feed).
    "postgresql": Sql(
        insert_into(EVENTS).text.replace(":txid", "pg_current_xact_id()::text::bigint")
    ),
}
_INSERT_DELIVERY = insert_into(WebhookDelivery.__table__)  # type: ignore[arg-type]


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
    subscriber (the test event). Written when the transaction flushes its outbox.
    """
    # Its time is the event's: the recovery of an endpoint finds the events since a time by id.
    event_id = new_id_at(now)
    row: dict[str, Any] = {
        "id": event_id,
        "workspace_id": workspace_id,
        "type": type,
        # [source, subject, attributes, data] (Event.body), packed on the caller's time, not
        # in the commit's batch. Ids may come as UUIDs: attributes are stored as JSON strings.
        "body": pack([source, str(subject), to_builtins(attributes or {}), data]),
        "txid": None,
        "created_at": now,
    }
    config = await workspace_config.current(session, workspace_id)
    deliveries = (
        deliveries_for(
            config.subscriptions,
            workspace_id=workspace_id,
            event_id=event_id,
            event_type=type,
            now=now,
            only_endpoint=only_endpoint,
        )
        if config.subscriptions
        else []
    )
    session.info.setdefault(OUTBOX, []).append((row, deliveries))
    return event_id


async def flush(session: AsyncSession) -> None:
    """Write the events emitted so far in this transaction, with their deliveries."""
    pending: list[tuple[dict[str, Any], list[dict[str, Any]]]] | None = session.info.pop(
        OUTBOX, None
    )
    if not pending:
        return
    db = await raw(session)
    await db.insert(
        (_INSERT[db.dialect], [row for row, _ in pending]),
        (_INSERT_DELIVERY, [d for _, found in pending for d in found]),
    )
