from __future__ import annotations

import uuid
from typing import Annotated

import msgspec
from msgspec import UNSET, UnsetType

from goodwill.clock import format_time
from goodwill.customers.models import Customer
from goodwill.http.schema import Email, Input, Metadata, Output, ShortText

SourceId = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[^\x00]*$",
        min_length=1,
        max_length=200,
        description="Your own id for this customer, unique in the workspace",
    ),
]


class CustomerUpsert(Input):
    source_id: SourceId
    email: Email | UnsetType | None = UNSET
    name: ShortText | UnsetType | None = UNSET
    metadata: Metadata | UnsetType = UNSET


class CustomerPatch(Input):
    source_id: SourceId | UnsetType = UNSET
    email: Email | UnsetType | None = UNSET
    name: ShortText | UnsetType | None = UNSET
    metadata: Metadata | UnsetType = UNSET


class CustomerOut(Output):
    id: uuid.UUID
    source_id: str
    email: str | None
    name: str | None
    metadata: Metadata
    created_at: str
    updated_at: str
    object: str = "customer"

    @classmethod
    def of(cls, c: Customer) -> CustomerOut:
        return cls(
            id=c.id,
            source_id=c.source_id,
            email=c.email,
            name=c.name,
            metadata=c.metadata_,
            created_at=format_time(c.created_at),
            updated_at=format_time(c.updated_at),
        )
