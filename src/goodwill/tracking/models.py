from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from goodwill.db import Base


class CustomEvent(Base):
    """A named event a customer did, as received (``POST /v1/events``, ``/client/v1/events``)."""

    __tablename__ = "custom_events"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"))
    name: Mapped[str] = mapped_column(String(300))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    card_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("loyalty_cards.id"))
    referral: Mapped[dict[str, Any] | None]
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    channel: Mapped[str] = mapped_column(String(16))  # server | client
    created_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_custom_events_workspace_id_name", "workspace_id", "name"),
        Index("ix_custom_events_customer_id", "customer_id"),
    )


class EventSchema(Base):
    """What a custom event's metadata must look like: typed properties, required or not."""

    __tablename__ = "event_schemas"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"))
    event_name: Mapped[str] = mapped_column(String(300))
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    allow_unknown: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("workspace_id", "event_name"),)
