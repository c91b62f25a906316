"""The outbox: the events a transaction emitted, stored together in one row.

A purchase emits about four events (``purchase.created``, ``reward.created`` for each reward,
``qualifying_purchase.created``, sometimes ``referral.created``) that share a workspace, a
time, and most of the ids their payloads name. One row per event spent about a third of what
a purchase stored on the rows' own keys, times and index entries, and on ids that each
payload repeated but compressed alone could not share. So the events a transaction emits for
one workspace at one time are one row (:class:`EventGroup`, up to :data:`GROUP_SIZE` of
them), their bodies packed as one value (migration 0012).

Every event keeps its own id, which names it in the feed, in deliveries and in the API: the
group's id plus the event's place in it. A group's id is a UUIDv7 of the events' millisecond
(``goodwill.ids.new_id_at``) whose low :data:`SLOT_BITS` bits are zero, so the others follow it
and are UUIDv7s of the same millisecond too; the group of an event is found by clearing them.
Rows written before groups (one event each, migration 0012 kept them) have ids with any low
bits: their event's id is the row's.

An event whose data is its subject's row as written (a new purchase, reward, stamp or
referral) is stored without it: ``null``, or the list of what its renderer needs besides the
row (a purchase's type prefix), and without its context attributes (``null``), which name
the row's program and promoter. Both are rendered from that row when read
(``goodwill.events.refs``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import BigInteger, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from goodwill.db import Base
from goodwill.db.base import BigIntPK, PackedJSON
from goodwill.ids import new_id_at

SLOT_BITS = 6
GROUP_SIZE = 1 << SLOT_BITS  # events per row at most: a claim of deliveries unpacks whole rows
_SLOTS = GROUP_SIZE - 1


class EventGroup(Base):
    """Events one transaction emitted for one workspace at one time, in the order emitted.

    ``seq`` orders the feed; ``txid`` (PostgreSQL only) is the writing transaction's id, which
    lets the feed hold back rows of transactions that may still commit below a reader's cursor.
    ``id`` is the first event's, and carries ``created_at``'s millisecond: its index also finds
    the events since a time. ``body`` is packed JSON (``goodwill.db.packed``), a list of
    ``[type, source, subject, attributes, data]``, one per event; payloads keep their keys in
    the order written, so they go out in the documented field order (seed 000). ``data`` is
    ``null`` or a list (the renderer's arguments) for an event rendered from its subject's row
    (``goodwill.events.refs``); an object is the data itself. ``attributes`` is ``null`` for
    such an event stored since 2026-12-06: rendered with its data.
    """

    __tablename__ = "events"

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    id: Mapped[uuid.UUID] = mapped_column(unique=True)
    workspace_id: Mapped[uuid.UUID]
    body: Mapped[list[Any]] = mapped_column(PackedJSON)
    txid: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]

    __table_args__ = (
        # SQLite's feed reads by seq; PostgreSQL records every row's txid and its feed reads
        # the index after this one: there this one is partial, and empty (migration 0022).
        Index(
            "ix_events_workspace_id_seq",
            "workspace_id",
            "seq",
            postgresql_where=text("txid IS NULL"),
        ),
        # SQLite never records txid: there the index is partial, and empty (migration 0006).
        Index(
            "ix_events_workspace_id_txid_seq",
            "workspace_id",
            "txid",
            "seq",
            sqlite_where=text("txid IS NOT NULL"),
        ),
    )

    def types(self) -> list[tuple[uuid.UUID, str]]:
        """Each event's id and type, in the order they were emitted."""
        return [(nth_id(self.id, slot), entry[0]) for slot, entry in enumerate(self.body)]

    def references(self) -> list[tuple[str, str, list[Any]]]:
        """The ``(type, subject, arguments)`` of each event stored without its data."""
        return [
            (type_, subject, data or [])
            for type_, _, subject, _, data in self.body
            if not isinstance(data, dict)
        ]

    def events(
        self, rendered: Mapping[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]]
    ) -> list[Event]:
        """Its events, in the order they were emitted; ``rendered`` holds the data and the
        attributes of those stored without their data, by ``(type, subject)``
        (``goodwill.events.refs.expand``)."""
        events = []
        for slot, (type_, source, subject, stored_attributes, stored) in enumerate(self.body):
            data, attributes = stored, stored_attributes
            if not isinstance(stored, dict):
                data, made = rendered[type_, subject]
                attributes = made if stored_attributes is None else stored_attributes
            events.append(
                Event(
                    nth_id(self.id, slot),
                    type_,
                    source,
                    subject,
                    data,
                    attributes,
                    self.created_at,
                    (self.txid or 0, self.seq, slot),
                )
            )
        return events


class Event(msgspec.Struct, frozen=True):
    """One state change, as it is rendered (``goodwill.events.formats``).

    ``position`` is its place in the feed: its row's ``(txid, seq)`` and its slot there.
    """

    id: uuid.UUID
    type: str
    source: str
    subject: str
    data: dict[str, Any]
    attributes: dict[str, Any]
    created_at: datetime
    position: tuple[int, int, int]


def group_id_at(moment: datetime) -> uuid.UUID:
    """A new group's id: a UUIDv7 of ``moment``'s millisecond with room for its events."""
    return uuid.UUID(int=new_id_at(moment).int & ~_SLOTS)


def nth_id(group_id: uuid.UUID, slot: int) -> uuid.UUID:
    """The id of the event in ``slot`` of the group ``group_id``."""
    return uuid.UUID(int=group_id.int + slot)


def rows_of(event_id: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    """The ids of the rows that may hold ``event_id``: its group's, and its own (a row written
    before groups)."""
    return uuid.UUID(int=event_id.int & ~_SLOTS), event_id
