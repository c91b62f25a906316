from __future__ import annotations

import uuid

import msgspec

from goodwill.clock import format_time
from goodwill.customers.schemas import SourceId
from goodwill.errors import ValidationFailed
from goodwill.http.schema import Email, Input, Metadata, Output, ShortText
from goodwill.links.schemas import Code
from goodwill.referrals.models import Lead, Referral
from goodwill.rewards.schemas import Explanation, RewardOut


class CustomerRef(Input):
    """The customer: ``{"id": ...}``, or ``{"source_id": ..., ...}`` to create or update it."""

    id: uuid.UUID | None = None
    source_id: SourceId | None = None
    email: Email | None = None
    name: ShortText | None = None
    metadata: Metadata | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.id is None) == (self.source_id is None):
            raise ValueError("give the customer's id, or its source_id")
        if self.id is not None and (self.email or self.name or self.metadata is not None):
            raise ValueError("with id, give no other fields (use source_id to update a customer)")


class Attribution(Input):
    """How a customer came: one of a link's ``code``, its ``link_id``, or a ``click_id``."""

    code: Code | None = None
    link_id: uuid.UUID | None = None
    click_id: uuid.UUID | None = None

    def given(self) -> list[str]:
        return [name for name in ("code", "link_id", "click_id") if getattr(self, name) is not None]


def check_one_attribution(data: Attribution, *, required: bool) -> None:
    given = data.given()
    if len(given) > 1:
        raise ValidationFailed.single(given[1], "give only one of code, link_id or click_id")
    if required and not given:
        raise ValidationFailed.single("code", "give one of code, link_id or click_id")


class LeadCreate(Attribution, kw_only=True):
    customer: CustomerRef
    metadata: Metadata = msgspec.field(default_factory=dict)


class ReferralOut(Output):
    id: uuid.UUID
    program_id: uuid.UUID
    promoter_id: uuid.UUID
    link_id: uuid.UUID | None
    click_id: uuid.UUID | None
    customer_id: uuid.UUID
    source: str
    referred_at: str
    created_at: str
    object: str = "referral"

    @classmethod
    def of(cls, r: Referral) -> ReferralOut:
        return cls(
            id=r.id,
            program_id=r.program_id,
            promoter_id=r.promoter_id,
            link_id=r.link_id,
            click_id=r.click_id,
            customer_id=r.customer_id,
            source=r.source,
            referred_at=format_time(r.referred_at),
            created_at=format_time(r.created_at),
        )


class LeadOut(Output):
    id: uuid.UUID
    customer_id: uuid.UUID
    program_id: uuid.UUID | None
    promoter_id: uuid.UUID | None
    link_id: uuid.UUID | None
    click_id: uuid.UUID | None
    status: str
    reason: str | None
    message: str | None
    referral: ReferralOut | None
    rewards: list[RewardOut]
    explanation: Explanation
    metadata: Metadata
    created_at: str
    object: str = "lead"

    @classmethod
    def of(cls, lead: Lead, referral: Referral | None, rewards: list[RewardOut]) -> LeadOut:
        return cls(
            id=lead.id,
            customer_id=lead.customer_id,
            program_id=lead.program_id,
            promoter_id=lead.promoter_id,
            link_id=lead.link_id,
            click_id=lead.click_id,
            status=lead.status,
            reason=lead.reason,
            message=lead.message,
            referral=None if referral is None else ReferralOut.of(referral),
            rewards=rewards,
            explanation=Explanation.of(lead.explanation),
            metadata=lead.metadata_,
            created_at=format_time(lead.created_at),
        )
