from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, UnsetType

from goodwill.clock import format_time
from goodwill.http.schema import NO_NUL, Input, Output, Text
from goodwill.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

Url = Annotated[
    str,
    msgspec.Meta(
        pattern=NO_NUL,
        min_length=1,
        max_length=2000,
        description="https:// URL, or nats://host:port for a NATS destination",
    ),
]
EventTypePattern = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=100,
        description="An event type (reward.created), a family (reward.*) or *",
    ),
]
EventTypes = Annotated[list[EventTypePattern], msgspec.Meta(min_length=1, max_length=100)]
FormatName = Literal["cloudevents", "cloudevents_seed", "flat"]
Kind = Literal["webhook", "nats"]
NatsSubject = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$",
        max_length=200,
        description="The JetStream subject to publish to (type nats only)",
    ),
]


class EndpointCreate(Input):
    url: Url
    type: Kind = "webhook"
    subject: NatsSubject | None = None
    event_types: EventTypes = msgspec.field(default_factory=lambda: ["*"])
    format: FormatName = "cloudevents"
    enabled: bool = True
    description: Text | None = None


class EndpointPatch(Input):
    url: Url | UnsetType = UNSET
    subject: NatsSubject | UnsetType = UNSET
    event_types: EventTypes | UnsetType = UNSET
    format: FormatName | UnsetType = UNSET
    enabled: bool | UnsetType = UNSET
    description: Text | UnsetType | None = UNSET


class EndpointOut(Output):
    id: uuid.UUID
    type: str
    url: str
    subject: str | None
    event_types: list[str]
    format: str
    enabled: bool
    description: str | None
    disabled_reason: str | None
    failing_since: str | None
    created_at: str
    updated_at: str
    object: str = "webhook_endpoint"

    @classmethod
    def of(cls, e: WebhookEndpoint) -> EndpointOut:
        return cls(
            id=e.id,
            type=e.kind,
            url=e.url,
            subject=e.subject,
            event_types=list(e.event_types),
            format=e.format,
            enabled=e.enabled,
            description=e.description,
            disabled_reason=e.disabled_reason,
            failing_since=_time(e.failing_since),
            created_at=format_time(e.created_at),
            updated_at=format_time(e.updated_at),
        )


class EndpointCreated(EndpointOut):
    secret: str = ""

    @classmethod
    def with_secret(cls, e: WebhookEndpoint) -> EndpointCreated:
        return cls(**msgspec.structs.asdict(EndpointOut.of(e)), secret=e.secret)


class SecretRotated(Output):
    id: uuid.UUID
    secret: str
    previous_secret_expires_at: str
    object: str = "webhook_endpoint_secret"


class Deleted(Output):
    id: uuid.UUID
    deleted: bool = True
    object: str = "webhook_endpoint"


class AttemptOut(Output):
    id: uuid.UUID
    attempted_at: str
    succeeded: bool
    status_code: int | None
    latency_ms: int
    response_body: str | None
    error: str | None
    object: str = "webhook_attempt"

    @classmethod
    def of(cls, a: WebhookAttempt) -> AttemptOut:
        return cls(
            id=a.id,
            attempted_at=format_time(a.attempted_at),
            succeeded=a.succeeded,
            status_code=a.status_code,
            latency_ms=a.latency_ms,
            response_body=a.response_body,
            error=a.error,
        )


class DeliveryOut(Output):
    id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    status: str
    attempt_count: int
    next_attempt_at: str | None
    last_status_code: int | None
    last_error: str | None
    created_at: str
    updated_at: str
    attempts: list[AttemptOut]
    object: str = "webhook_delivery"

    @classmethod
    def of(cls, d: WebhookDelivery, event_type: str, attempts: list[WebhookAttempt]) -> DeliveryOut:
        return cls(
            id=d.id,
            endpoint_id=d.endpoint_id,
            event_id=d.event_id,
            event_type=event_type,
            status=d.status,
            attempt_count=d.attempts,
            next_attempt_at=format_time(d.next_attempt_at) if d.status == "pending" else None,
            last_status_code=d.last_status_code,
            last_error=d.last_error,
            created_at=format_time(d.created_at),
            updated_at=format_time(d.updated_at),
            attempts=[AttemptOut.of(a) for a in attempts],
        )


class ResendRequest(Input):
    endpoint_id: uuid.UUID | None = None


class RecoverRequest(Input):
    since: datetime


class Scheduled(Output):
    """Deliveries queued by a resend, a recovery or a test."""

    deliveries: list[uuid.UUID]
    event_id: uuid.UUID | None = None
    object: str = "webhook_deliveries_scheduled"


def _time(value: datetime | None) -> str | None:
    return None if value is None else format_time(value)
