from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from goodwill.db import Base
from goodwill.db.base import BigIntPK, PackedJSON


class Event(Base):
    """One state change, written in the transaction that made it (the outbox).

    ``seq`` orders the feed; ``txid`` (PostgreSQL only) is the writing transaction's id, which
    lets the feed hold back rows of transactions that may still commit below a reader's cursor.
    ``id`` carries ``created_at``'s millisecond (``goodwill.ids.new_id_at``): its index also
    finds the events since a time.
    """

    __tablename__ = "events"

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    id: Mapped[uuid.UUID] = mapped_column(unique=True)
    workspace_id: Mapped[uuid.UUID]
    type: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(100))
    # Compressed JSON (goodwill.db.packed): most of what a purchase stores. Keys keep the order
    # they were written in, so payloads go out in the documented field order (seed 000).
    data: Mapped[dict[str, Any]] = mapped_column(PackedJSON)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    txid: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]

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
