"""A promoter as ``GET /v1/promoters/{id}`` shows it: live stats and balances.

It reads from several domains through their services, so it lives apart from the promoter
service (which those domains use).
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.links import service as links
from goodwill.links.schemas import LinkOut
from goodwill.money import from_minor
from goodwill.promoters.models import Promoter
from goodwill.promoters.schemas import PromoterOut, PromoterStats, Revenue
from goodwill.purchases import service as purchases
from goodwill.referrals import service as referrals
from goodwill.rewards import service as rewards


async def detail(
    session: AsyncSession, workspace_id: uuid.UUID, promoter: Promoter, base_url: str
) -> PromoterOut:
    found = await links.default_links(session, workspace_id, [promoter.id])
    link = found.get(promoter.id)
    leads, referral_count = await referrals.counts_for_promoter(session, workspace_id, promoter.id)
    purchase_count, revenue = await purchases.totals_for_promoter(
        session, workspace_id, promoter.id
    )
    stats = PromoterStats(
        clicks=await links.click_count(session, workspace_id, promoter.id),
        leads=leads,
        referrals=referral_count,
        purchases=purchase_count,
        revenue=[Revenue(currency=c, amount=from_minor(m, c)) for c, m in revenue.items()],
        rewards=await rewards.totals_for_promoter(session, workspace_id, promoter.id),
    )
    return PromoterOut.of(
        promoter,
        link=None if link is None else LinkOut.of(link, base_url),
        balances=await rewards.balances(session, workspace_id, "promoter", promoter.id),
        stats=stats,
    )
