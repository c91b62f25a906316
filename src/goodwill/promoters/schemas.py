from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated

import msgspec

from goodwill.clock import format_time
from goodwill.http.schema import Email, Input, Metadata, Output, ShortText, Url
from goodwill.links.schemas import Code, LinkOut, UtmParams
from goodwill.promoters.models import Promoter

ExternalId = Annotated[str, msgspec.Meta(pattern=r"^[^\x00]*$", min_length=1, max_length=200)]


class PromoterCreate(Input):
    name: ShortText
    email: Email | None = None
    customer_id: uuid.UUID | None = None
    external_id: ExternalId | None = None
    metadata: Metadata = msgspec.field(default_factory=dict)
    # The default link: where it leads (else the program's settings.destination_url).
    destination_url: Url | None = None
    code: Code | None = None
    utm_params: UtmParams | None = None


class Balance(Output):
    """One unit (a currency, or points) of an account: each field is a sum of ledger entries.

    ``clawback_outstanding`` is negative: what paid rewards of refunded purchases owe back,
    netted against the next payout. ``payable`` is ``approved + clawback_outstanding``
    when that is more than 0.
    """

    unit: str
    pending: Decimal | int
    approved: Decimal | int
    paid: Decimal | int
    clawback_outstanding: Decimal | int
    payable: Decimal | int


class RewardTotal(Output):
    status: str
    unit: str
    count: int
    amount: Decimal | int


class Revenue(Output):
    currency: str
    amount: Decimal


class PromoterStats(Output):
    clicks: int
    leads: int
    referrals: int
    purchases: int
    revenue: list[Revenue]
    rewards: list[RewardTotal]


class PromoterOut(Output):
    id: uuid.UUID
    program_id: uuid.UUID
    name: str
    email: str | None
    customer_id: uuid.UUID | None
    external_id: str | None
    metadata: Metadata
    default_link: LinkOut | None
    balances: list[Balance]
    stats: PromoterStats | None
    created_at: str
    updated_at: str
    object: str = "promoter"

    @classmethod
    def of(
        cls,
        p: Promoter,
        *,
        link: LinkOut | None = None,
        balances: list[Balance] | None = None,
        stats: PromoterStats | None = None,
    ) -> PromoterOut:
        return cls(
            id=p.id,
            program_id=p.program_id,
            name=p.name,
            email=p.email,
            customer_id=p.customer_id,
            external_id=p.external_id,
            metadata=p.metadata_,
            default_link=link,
            balances=balances or [],
            stats=stats,
            created_at=format_time(p.created_at),
            updated_at=format_time(p.updated_at),
        )
