from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from goodwill.db import Base


class WebhookEndpoint(Base):
    """Where a workspace's events go: an HTTPS URL, or a NATS JetStream subject (``kind``).

    ``failing_since`` is the first failure since the last success; an endpoint that has only
    failed for five days is disabled. ``deleted_at`` keeps the delivery log of a deleted endpoint.
    """

    __tablename__ = "webhook_endpoints"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"))
    kind: Mapped[str] = mapped_column(String(16))  # "webhook" | "nats"
    url: Mapped[str] = mapped_column(String(2000))
    subject: Mapped[str | None] = mapped_column(String(200))  # NATS subject
    event_types: Mapped[list[Any]]
    format: Mapped[str] = mapped_column(String(32))
    enabled: Mapped[bool]
    description: Mapped[str | None] = mapped_column(String(1000))
    secret: Mapped[str] = mapped_column(String(100))
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    failing_since: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_webhook_endpoints_workspace_id", "workspace_id", "id"),)


class WebhookDelivery(Base):
    """One event to one endpoint: ``pending`` until it ``succeeded``, ``failed`` (retries used
    up) or was ``cancelled`` (endpoint deleted). A worker holds it while ``locked_until``."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    workspace_id: Mapped[uuid.UUID]
    endpoint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_endpoints.id"))
    # An event by its id (goodwill.events.models): not always a row's, so no foreign key.
    event_id: Mapped[uuid.UUID]
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int]
    next_attempt_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
    locked_by: Mapped[str | None] = mapped_column(String(64))
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint_id", "endpoint_id", "id"),
        Index("ix_webhook_deliveries_event_id", "event_id"),
    )


class WebhookAttempt(Base):
    """One try of a delivery: what the endpoint answered (truncated), how long it took, or why
    it could not be sent."""

    __tablename__ = "webhook_attempts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    workspace_id: Mapped[uuid.UUID]
    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_deliveries.id"))
    attempted_at: Mapped[datetime]
    succeeded: Mapped[bool]
    status_code: Mapped[int | None]
    latency_ms: Mapped[int]
    response_body: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(String(500))
    worker: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_webhook_attempts_delivery_id", "delivery_id", "attempted_at"),)
