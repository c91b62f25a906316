"""Writing events into the outbox, inside the caller's transaction.

:func:`emit` records an event in the transaction's outbox buffer and returns its id; the
buffer is written by :func:`flush`, which the transaction runs before it commits
(``goodwill.db``): the events, grouped into rows (``goodwill.events.models``), and their
deliveries to the webhook endpoints subscribed when each was emitted (see
``goodwill.webhooks.fanout``), on PostgreSQL in one statement. So the events, the deliveries
and the change that caused them commit together or not at all, and a request that emits six
events pays for one round trip.

:func:`write_with_outbox` hands the flush other rows too, written in that same statement: a
new purchase's rewards, ledger entries and stamps, which nothing in its transaction reads
back (two round trips fewer on PostgreSQL).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.db.packed import json_bytes, pack_json
from goodwill.db.raw import Sql, insert_into, raw
from goodwill.events.models import GROUP_SIZE, EventGroup, group_id_at, nth_id
from goodwill.events.refs import BY_REFERENCE
from goodwill.http.encoding import to_builtins
from goodwill.webhooks.fanout import deliveries_for
from goodwill.webhooks.models import WebhookDelivery
from goodwill.workspaces import config as workspace_config

OUTBOX = "goodwill.outbox"  # session.info key of the groups not yet written
WITH_OUTBOX = "goodwill.with_outbox"  # session.info key of other rows written with them
Part = tuple[Sql, Sequence[Mapping[str, Any]]]  # an INSERT … VALUES statement and its rows
EVENTS: Table = EventGroup.__table__  # type: ignore[assignment]
_INSERT = {
    "sqlite": insert_into(EVENTS),
    # The writing transaction's id orders the feed (goodwill.events.feed).
    "postgresql": Sql(
        insert_into(EVENTS).text.replace(":txid", "pg_current_xact_id()::text::bigint")
    ),
}
_INSERT_DELIVERY = insert_into(WebhookDelivery.__table__)  # type: ignore[arg-type]


@dataclass
class _Group:
    """A row of the outbox being filled: its events as JSON texts, encoded when emitted (what
    the caller's dicts held then), and their deliveries."""

    id: uuid.UUID
    workspace_id: uuid.UUID
    created_at: datetime
    events: list[bytes] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "workspace_id": self.workspace_id,
            # A list of [type, source, subject, attributes, data] (EventGroup.body).
            "body": pack_json(b"[" + b",".join(self.events) + b"]"),
            "txid": None,
            "created_at": self.created_at,
        }


async def emit(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    type: str,
    source: str,
    subject: uuid.UUID | str,
    data: dict[str, Any] | None,
    now: datetime,
    attributes: dict[str, Any] | None = None,
    only_endpoint: uuid.UUID | None = None,
    rendered_with: list[Any] | None = None,
) -> uuid.UUID:
    """Record ``type`` (e.g. ``customer.created``) caused by ``source`` (``urn:POST:/customers``).

    ``data`` ``None``: the event is rendered from the row of ``subject`` when read, which the
    caller writes in this transaction as ``type``'s renderer reads it (``goodwill.events.refs``),
    and from ``rendered_with``, what the renderer needs besides the row; so are its
    ``attributes``, which such an event does not take.
    ``attributes`` become CloudEvents context attributes (``program_id`` goes out as
    ``programid``). ``only_endpoint`` sends the event to that one endpoint instead of every
    subscriber (the test event). Written when the transaction flushes its outbox.
    """
    if data is None and type not in BY_REFERENCE:
        raise ValueError(f"{type} events carry their data")
    if rendered_with is not None and data is not None:
        raise ValueError("an event carries its data or is rendered, not both")
    if data is None and attributes is not None:
        raise ValueError(f"{type} events rendered from their rows render their attributes")
    config = await workspace_config.current(session, workspace_id)
    pending: list[_Group] = session.info.setdefault(OUTBOX, [])
    group = pending[-1] if pending else None
    if (
        group is None
        or group.workspace_id != workspace_id
        or group.created_at != now
        or len(group.events) == GROUP_SIZE
    ):
        # The group's time is its events': an endpoint's recovery finds events since a time
        # by their ids.
        group = _Group(group_id_at(now), workspace_id, now)
        pending.append(group)
    event_id = nth_id(group.id, len(group.events))
    # Ids may come as UUIDs: attributes are stored as JSON strings.
    event: list[Any]
    if data is None:
        event = [type, source, str(subject), None, rendered_with or None]
    else:
        event = [type, source, str(subject), to_builtins(attributes or {}), data]
    group.events.append(json_bytes(event))
    if config.subscriptions:
        group.deliveries += deliveries_for(
            config.subscriptions,
            workspace_id=workspace_id,
            event_id=event_id,
            event_type=type,
            now=now,
            only_endpoint=only_endpoint,
        )
    return event_id


def write_with_outbox(session: AsyncSession, *parts: Part) -> None:
    """Insert ``parts`` when the outbox is flushed, before the events and in their statement
    on PostgreSQL (``Raw.insert``). Only for rows that nothing in the transaction reads back
    before it ends: until then they are not in the database. A row that breaks a constraint
    fails the transaction at the flush, like any other insert."""
    session.info.setdefault(WITH_OUTBOX, []).extend(parts)


async def flush(session: AsyncSession) -> None:
    """Write the events emitted so far in this transaction, with their deliveries and the
    rows given to :func:`write_with_outbox`."""
    pending: list[_Group] = session.info.pop(OUTBOX, None) or []
    parts: list[Part] = session.info.pop(WITH_OUTBOX, None) or []
    if not pending and not parts:
        return
    db = await raw(session)
    await db.insert(
        *parts,
        (_INSERT[db.dialect], [group.row() for group in pending]),
        (_INSERT_DELIVERY, [d for group in pending for d in group.deliveries]),
    )
