"""Request and response bodies for cards, stamps, points entries and redemptions."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, UnsetType

from goodwill.clock import format_time
from goodwill.customers.schemas import SourceId
from goodwill.http.schema import NO_NUL, Input, Metadata, Output
from goodwill.loyalty.models import QualifyingPurchase, Redemption

ExternalId = Annotated[
    str,
    msgspec.Meta(
        pattern=NO_NUL,
        min_length=1,
        max_length=200,
        description="Your id for this redemption: the same external_id never redeems twice",
    ),
]


def _time(value: datetime | None) -> str | None:
    return None if value is None else format_time(value)


class CustomerRef(Input):
    """A customer by Goodwill ``id`` or by your ``source_id``."""

    id: uuid.UUID | None = None
    source_id: SourceId | None = None


class RedemptionCreate(Input):
    program_id: uuid.UUID
    customer: CustomerRef
    external_id: ExternalId
    stamps: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] | None = None
    points: Annotated[int, msgspec.Meta(ge=1, le=10**15)] | None = None
    metadata: Metadata | UnsetType = UNSET


class StampsCard(Output):
    required: int
    collected: int
    available: int
    redeemed: int
    voided: int
    rewards_available: int
    reward: dict[str, Any]


class PointsCard(Output):
    pending: int
    available: int
    redeemed: int
    expired: int
    clawed_back: int
    earned: int


class CardOut(Output):
    id: uuid.UUID
    code: str
    program_id: uuid.UUID
    customer_id: uuid.UUID
    kind: str
    stamps: StampsCard | None
    points: PointsCard | None
    created_at: str
    object: str = "loyalty_card"


class QualifyingPurchaseOut(Output):
    id: uuid.UUID
    program_id: uuid.UUID
    customer_id: uuid.UUID
    purchase_id: uuid.UUID
    transaction_ref: str
    stamp_index: int
    status: str
    redemption_id: uuid.UUID | None
    created_at: str
    redeemed_at: str | None
    unredeemed_at: str | None
    voided_at: str | None
    object: str = "qualifying_purchase"

    @classmethod
    def of(cls, q: QualifyingPurchase) -> QualifyingPurchaseOut:
        return cls(
            id=q.id,
            program_id=q.program_id,
            customer_id=q.customer_id,
            purchase_id=q.purchase_id,
            transaction_ref=q.transaction_ref,
            stamp_index=q.stamp_index,
            status=q.status,
            redemption_id=q.redemption_id,
            created_at=format_time(q.created_at),
            redeemed_at=_time(q.redeemed_at),
            unredeemed_at=_time(q.unredeemed_at),
            voided_at=_time(q.voided_at),
        )


class PointsEntryOut(Output):
    id: uuid.UUID
    program_id: uuid.UUID
    customer_id: uuid.UUID
    card_code: str
    kind: str
    points: int
    lot_id: uuid.UUID
    pending_until: str | None
    expires_at: str | None
    purchase_id: uuid.UUID | None
    custom_event_id: uuid.UUID | None
    redemption_id: uuid.UUID | None
    created_at: str
    object: str = "points_entry"

    @classmethod
    def of(cls, e: Mapping[str, Any] | Any, card_code: str) -> PointsEntryOut:
        """From a row object, or from the column values just written."""

        def get(name: str) -> Any:
            return e.get(name) if isinstance(e, Mapping) else getattr(e, name)

        return cls(
            id=get("id"),
            program_id=get("program_id"),
            customer_id=get("customer_id"),
            card_code=card_code,
            kind=get("kind"),
            points=int(get("points")),
            lot_id=get("lot_id"),
            pending_until=_time(get("pending_until")),
            expires_at=_time(get("expires_at")),
            purchase_id=get("purchase_id"),
            custom_event_id=get("custom_event_id"),
            redemption_id=get("redemption_id"),
            created_at=format_time(get("created_at")),
        )


class RedemptionOut(Output):
    id: uuid.UUID
    external_id: str
    program_id: uuid.UUID
    customer_id: uuid.UUID
    kind: str
    stamps: int | None
    points: int | None
    status: str
    qualifying_purchase_ids: list[str]
    reward: dict[str, Any] | None
    metadata: dict[str, Any]
    created_at: str
    reversed_at: str | None
    object: str = "redemption"

    @classmethod
    def of(cls, r: Redemption) -> RedemptionOut:
        return cls(
            id=r.id,
            external_id=r.external_id,
            program_id=r.program_id,
            customer_id=r.customer_id,
            kind=r.kind,
            stamps=r.quantity if r.kind == "stamps" else None,
            points=r.quantity if r.kind == "points" else None,
            status=r.status,
            qualifying_purchase_ids=[str(i) for i in r.qualifying_purchase_ids],
            reward=r.reward,
            metadata=r.metadata_,
            created_at=format_time(r.created_at),
            reversed_at=_time(r.reversed_at),
        )
