from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated

import msgspec
from msgspec import UNSET, UnsetType

from goodwill.clock import format_time
from goodwill.http.schema import CurrencyCode, Input, Metadata, Output, ShortText
from goodwill.money import from_minor
from goodwill.products.models import Product

Sku = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[^\x00]*$",
        min_length=1,
        max_length=200,
        description="Your item id (seed 000 item_id), unique in the workspace",
    ),
]
Price = Annotated[
    Decimal,
    msgspec.Meta(description="At least 0, in the currency's major unit: 12.50", examples=["12.50"]),
]


class ProductCreate(Input):
    sku: Sku
    name: ShortText
    price: Price
    currency: CurrencyCode
    metadata: Metadata = msgspec.field(default_factory=dict)
    active: bool = True


class ProductPatch(Input):
    sku: Sku | UnsetType = UNSET
    name: ShortText | UnsetType = UNSET
    price: Price | UnsetType = UNSET
    currency: CurrencyCode | UnsetType = UNSET
    metadata: Metadata | UnsetType = UNSET
    active: bool | UnsetType = UNSET


class ProductOut(Output):
    id: uuid.UUID
    sku: str
    name: str
    price: Decimal
    currency: str
    metadata: Metadata
    active: bool
    created_at: str
    updated_at: str
    object: str = "product"

    @classmethod
    def of(cls, p: Product) -> ProductOut:
        return cls(
            id=p.id,
            sku=p.sku,
            name=p.name,
            price=from_minor(p.price_minor, p.currency),
            currency=p.currency,
            metadata=p.metadata_,
            active=p.active,
            created_at=format_time(p.created_at),
            updated_at=format_time(p.updated_at),
        )
