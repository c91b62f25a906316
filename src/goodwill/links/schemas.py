from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec

from goodwill.clock import format_time
from goodwill.http.schema import Input, Output, Url, described_pattern
from goodwill.links.models import Click, ReferralLink
from goodwill.rewards.schemas import Explanation

UTM_FIELDS = ("utm_id", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
UtmValue = Annotated[str, msgspec.Meta(pattern=r"^[^\x00]*$", min_length=1, max_length=200)]
Code = Annotated[
    str,
    msgspec.Meta(
        pattern=described_pattern(
            r"^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$",
            "must be 3-64 letters, digits, '-' or '_', starting with a letter or digit",
        ),
        description="3-64 letters, digits, '-' or '_', starting with a letter or digit",
        examples=["ada-friends"],
    ),
]


class UtmParams(Input, omit_defaults=True):
    """The six UTM fields of seed 000's ``utm_params``."""

    utm_id: UtmValue | None = None
    utm_source: UtmValue | None = None
    utm_medium: UtmValue | None = None
    utm_campaign: UtmValue | None = None
    utm_term: UtmValue | None = None
    utm_content: UtmValue | None = None

    def as_dict(self) -> dict[str, str]:
        return {k: v for k in UTM_FIELDS if (v := getattr(self, k)) is not None}


class UtmOut(Output, omit_defaults=True):
    """UTM parameters as shown: the given ones, always in the same order."""

    utm_id: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_term: str | None = None
    utm_content: str | None = None

    @classmethod
    def of(cls, stored: dict[str, Any] | None) -> UtmOut | None:
        if stored is None:
            return None
        return cls(**{k: v for k, v in stored.items() if k in UTM_FIELDS})


class LinkCreate(Input):
    promoter_id: uuid.UUID
    destination_url: Url | None = None
    code: Code | None = None
    utm_params: UtmParams | None = None


class LinkOut(Output):
    id: uuid.UUID
    program_id: uuid.UUID
    promoter_id: uuid.UUID
    code: str
    url: str
    destination_url: str
    utm_params: UtmOut
    created_at: str
    object: str = "referral_link"

    @classmethod
    def of(cls, link: ReferralLink, base_url: str) -> LinkOut:
        return cls(
            id=link.id,
            program_id=link.program_id,
            promoter_id=link.promoter_id,
            code=link.code,
            url=f"{base_url.rstrip('/')}/r/{link.code}",
            destination_url=link.destination_url,
            utm_params=UtmOut.of(link.utm_params) or UtmOut(),
            created_at=format_time(link.created_at),
        )


class ClickOut(Output):
    id: uuid.UUID
    link_id: uuid.UUID
    program_id: uuid.UUID
    promoter_id: uuid.UUID
    utm_params: UtmOut
    referrer: str | None
    user_agent: str | None
    ip_hash: str | None
    explanation: Explanation | None
    created_at: str
    object: str = "click"

    @classmethod
    def of(cls, click: Click) -> ClickOut:
        return cls(
            id=click.id,
            link_id=click.link_id,
            program_id=click.program_id,
            promoter_id=click.promoter_id,
            utm_params=UtmOut.of(click.utm_params) or UtmOut(),
            referrer=click.referrer,
            user_agent=click.user_agent,
            ip_hash=click.ip_hash,
            explanation=None if click.explanation is None else Explanation.of(click.explanation),
            created_at=format_time(click.created_at),
        )
