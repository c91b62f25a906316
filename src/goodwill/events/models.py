from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import BigInteger, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from goodwill.db import Base
from goodwill.db.base import BigIntPK, PackedJSON


class Event(Base):
    """One state change, written in the transaction that made it (the outbox).

    ``seq`` orders the feed; ``txid`` (PostgreSQL only) is the writing transaction's id, which
    lets the feed hold back rows of transactions that may still commit below a reader's cursor.
    ``id`` carries ``created_at``'s millisecond (``goodwill.ids.new_id_at``): its index also
    finds the events since a time.

    ``body`` holds what is only ever read whole, packed together (``goodwill.db.packed``):
    ``[source, subject, attributes, data]``. Compressed as one value, the ids the subject and
    the attributes name are found again in the payload, where they repeat: about 100 bytes a
    row less than four columns (migration 0011).
    """

    __tablename__ = "events"

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    id: Mapped[uuid.UUID] = mapped_column(unique=True)
    workspace_id: Mapped[uuid.UUID]
    type: Mapped[str] = mapped_column(String(100))
    # Compressed JSON (goodwill.db.packed): most of what a purchase stores. Keys keep the order
    # they were written in, so payloads go out in the documented field order (seed 000).
    body: Mapped[list[Any]] = mapped_column(PackedJSON)
    txid: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]

    @property
    def source(self) -> str:
        """What caused it, as a URI reference (``urn:POST:/purchases``)."""
        return str(self.body[0])

    @property
    def subject(self) -> str:
        """The id of what it is about."""
        return str(self.body[1])

    @property
    def attributes(self) -> dict[str, Any]:
        """Its CloudEvents context attributes (``program_id``, ``promoter_id``)."""
        return cast(dict[str, Any], self.body[2])

    @property
    def data(self) -> dict[str, Any]:
        """Its payload."""
        return cast(dict[str, Any], self.body[3])

    __table_args__ = (
        Index("ix_events_workspace_id_seq", "workspace_id", "seq"),
        # SQLite never records txid: there the index is partial, and empty (migration 0006).
        Index(
            "ix_events_workspace_id_txid_seq",
            "workspace_id",
            "txid",
            "seq",
            sqlite_where=text("txid IS NOT NULL"),
        ),
    )
