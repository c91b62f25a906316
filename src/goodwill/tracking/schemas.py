"""Bodies of the custom-event endpoints (seed 003 shapes) and of event schemas."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from goodwill.clock import format_time
from goodwill.customers.models import Customer
from goodwill.customers.schemas import SourceId
from goodwill.http.schema import NO_NUL, Email, Input, Metadata, Output, ShortText, Text
from goodwill.tracking.models import EventSchema

EventName = Annotated[
    str,
    msgspec.Meta(
        pattern=NO_NUL,
        min_length=1,
        max_length=300,
        description="The event's name, 1-300 characters",
        examples=["user_subscribed"],
    ),
]
Code = Annotated[str, msgspec.Meta(pattern=NO_NUL, min_length=1, max_length=200)]
PropertyName = Annotated[str, msgspec.Meta(pattern=NO_NUL, min_length=1, max_length=200)]
PropertyType = Literal[
    "string", "number", "integer", "boolean", "date", "datetime", "object", "array"
]
MAX_PROPERTIES = 200


class EventCustomer(Input):
    """The customer: by Goodwill ``id`` or your ``source_id`` (created if new); the other
    fields given update it."""

    id: uuid.UUID | None = None
    source_id: SourceId | None = None
    name: ShortText | UnsetType | None = UNSET
    email: Email | UnsetType | None = UNSET
    metadata: Metadata | UnsetType = UNSET


class EventReferral(Input):
    code: Code
    referrer_id: Code | None = None


class EventLoyalty(Input):
    code: Code


class EventIn(Input):
    event: EventName
    customer: EventCustomer
    referral: EventReferral | None = None
    loyalty: EventLoyalty | None = None
    metadata: Metadata = msgspec.field(default_factory=dict)


class EventCustomerOut(Output):
    """Seed 003's simple customer object."""

    id: uuid.UUID
    name: str | None
    email: str | None
    source_id: str
    metadata: dict[str, Any]
    object: str = "customer"

    @classmethod
    def of(cls, c: Customer) -> EventCustomerOut:
        return cls(id=c.id, name=c.name, email=c.email, source_id=c.source_id, metadata=c.metadata_)


class EventOut(Output, kw_only=True):
    """Seed 003's answer: ``object``, ``type``, ``customer``, ``referral``, ``loyalty``,
    ``metadata``. Seed 003 types ``referral`` and ``loyalty`` as null ("a null referral
    object"), whatever the request named: typed clients of that API expect exactly that."""

    object: str = "event"
    type: str
    customer: EventCustomerOut
    referral: None = None
    loyalty: None = None
    metadata: dict[str, Any]


class PropertyIn(Input):
    type: PropertyType
    required: bool = False
    description: Text | None = None


class EventSchemaIn(Input):
    properties: dict[PropertyName, PropertyIn] = msgspec.field(default_factory=dict)
    allow_unknown: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.properties) > MAX_PROPERTIES:
            raise ValueError(f"at most {MAX_PROPERTIES} properties - at `$.properties`")


class EventSchemaOut(Output):
    id: uuid.UUID
    event_name: str
    properties: dict[str, Any]
    allow_unknown: bool
    created_at: str
    updated_at: str
    object: str = "event_schema"

    @classmethod
    def of(cls, s: EventSchema) -> EventSchemaOut:
        return cls(
            id=s.id,
            event_name=s.event_name,
            properties=s.properties,
            allow_unknown=s.allow_unknown,
            created_at=format_time(s.created_at),
            updated_at=format_time(s.updated_at),
        )
