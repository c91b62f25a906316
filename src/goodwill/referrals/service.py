"""Referrals: leads, custom-event conversions, and reading referrals and leads.

Who referred whom is decided in :mod:`goodwill.referrals.attribution`: first touch wins, and
a self-referral is refused and recorded.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.customers import service as customers
from goodwill.customers.models import Customer
from goodwill.customers.service import CustomerRepository
from goodwill.db.repository import Repository
from goodwill.errors import NotFound
from goodwill.http.pagination import fetch_page
from goodwill.ids import new_id
from goodwill.links import service as links
from goodwill.programs import service as programs
from goodwill.programs.models import Program
from goodwill.promoters import service as promoters
from goodwill.referrals.attribution import (
    LinkRef,
    ReferralRepository,
    Touch,
    attribute,
    customer_facts,
    occurrence_for,
    open_,
    referral_of,
    save_referral,
    target_for,
    touch_by_code,
)
from goodwill.referrals.models import Lead, Referral
from goodwill.referrals.schemas import LeadCreate, check_one_attribution
from goodwill.rewards import grant
from goodwill.rewards.models import Reward
from goodwill.rules.engine import Block


class LeadRepository(Repository[Lead]):
    model = Lead
    noun = "lead"


@dataclass(frozen=True)
class LeadResult:
    lead: Lead
    referral: Referral | None
    rewards: list[Reward]


async def create_lead(
    session: AsyncSession, workspace_id: uuid.UUID, data: LeadCreate, now: datetime, source: str
) -> LeadResult:
    """Record a lead. A new referral fires the program's ``lead`` rules."""
    check_one_attribution(data, required=True)
    opening = await open_(session, workspace_id, data, data.customer)
    touch = opening.touch()
    assert touch is not None
    customer, created = await opening.customer(session, now, source)
    attributed = await attribute(
        session, customer, touch, at=now, now=now, source_kind="lead", new_customer=created
    )
    lead_id = new_id()
    status = {"referred": "referred", "existing": "already_referred"}.get(
        attributed.status, "refused"
    )
    block = attributed.block
    if attributed.status == "existing":
        block = Block("already_referred", attributed.message)
    facts: dict[str, Any] = {
        "customer": customer_facts(customer),
        "utm": {} if touch.click is None else touch.click.utm_params,
        "event": {"name": "lead", "metadata": data.metadata},
    }
    occurrence = occurrence_for(
        attributed, trigger="lead", at=now, now=now, facts=facts, block=block
    )
    target = target_for(attributed, customer, "lead", lead_id)
    if attributed.is_new:
        assert attributed.referral is not None
        await save_referral(session, attributed.referral, now, source)
    decisions, reward_ids = await grant.decide_for(session, target, occurrence)
    lead = Lead(
        id=lead_id,
        workspace_id=workspace_id,
        customer_id=customer.id,
        program_id=touch.link.program_id,
        promoter_id=touch.link.promoter_id,
        link_id=touch.link.id,
        click_id=None if touch.click is None else touch.click.id,
        referral_id=None if attributed.referral is None else attributed.referral.id,
        status=status,
        reason=None if block is None else block.code,
        message=attributed.message,
        metadata_=data.metadata,
        explanation={
            "attribution": attributed.explain(),
            "rules": grant.explain(decisions, reward_ids),
        },
        created_at=now,
    )
    session.add(lead)
    await session.flush()
    rewards = await grant.write(session, target, decisions, reward_ids, now=now, source=source)
    return LeadResult(lead, attributed.referral, rewards)


@dataclass(frozen=True)
class Conversion:
    """What a custom event did for a referral program."""

    id: uuid.UUID  # the rewards' source id (``source.type`` = ``event``)
    referral: Referral | None
    referral_created: bool
    rewards: list[Reward]
    explanation: dict[str, Any]


async def _referrer_touch(
    session: AsyncSession, workspace_id: uuid.UUID, referrer_id: str
) -> Touch:
    """The default link of the promoter who is the customer ``referrer_id`` (id or source_id)."""
    repo = CustomerRepository(session, workspace_id)
    referrer: Customer | None = None
    try:
        referrer = await repo.find(uuid.UUID(referrer_id))
    except ValueError:
        referrer = None
    if referrer is None:
        referrer = await repo.by_source_id(referrer_id)
    promoter = (
        None
        if referrer is None
        else await promoters.by_customer(session, workspace_id, referrer.id)
    )
    found = (
        None
        if promoter is None
        else await links.default_links(session, workspace_id, [promoter.id])
    )
    if promoter is None or not found:
        raise NotFound(f"No promoter is the customer {referrer_id!r}", param="referrer_id")
    return Touch(LinkRef.of(found[promoter.id]), "referrer_id")


async def record_conversion(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    customer_id: uuid.UUID,
    event_name: str,
    code: str | None = None,
    referrer_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    now: datetime,
    source: str,
    event_type_prefix: str | None = None,
    event_id: uuid.UUID | None = None,
) -> Conversion:
    """Fire the ``custom:<event_name>`` rules of the customer's referral program.

    The referral is the customer's existing one (first touch wins), else one made now from
    ``code`` (a link's code) or ``referrer_id`` (the referring customer, by id or source_id,
    who must be a promoter). The rewards' source is ``event_id`` (the tracked event, if the
    caller stored one) or a new id, returned as ``Conversion.id``. ``event_type_prefix`` is
    accepted for symmetry with the purchase service; no event written here needs it.
    Unknown ``code``/``referrer_id``/``customer_id`` are a 404 naming the parameter.
    """
    del event_type_prefix
    touch = None
    if code is not None:
        touch = await touch_by_code(session, workspace_id, code)
    elif referrer_id is not None:
        touch = await _referrer_touch(session, workspace_id, referrer_id)
    customer = await customers.locked_by_id(session, workspace_id, customer_id, param="customer_id")
    attributed = await attribute(session, customer, touch, at=now, now=now, source_kind="event")
    conversion_id = event_id or new_id()
    explanation: dict[str, Any] = {"attribution": attributed.explain(), "rules": []}
    if attributed.program is None:
        return Conversion(conversion_id, None, False, [], explanation)
    if attributed.is_new:
        assert attributed.referral is not None
        await save_referral(session, attributed.referral, now, source)
    facts = {
        "customer": customer_facts(customer),
        "event": {"name": event_name, "metadata": metadata or {}},
    }
    occurrence = occurrence_for(
        attributed, trigger=f"custom:{event_name}", at=now, now=now, facts=facts
    )
    target = target_for(attributed, customer, "event", conversion_id)
    firing = await grant.fire(session, target, occurrence, now, source)
    explanation["rules"] = grant.explain(firing.decisions, firing.reward_ids)
    return Conversion(
        conversion_id, attributed.referral, attributed.is_new, firing.rewards, explanation
    )


async def get_referral(
    session: AsyncSession, workspace_id: uuid.UUID, referral_id: uuid.UUID
) -> Referral:
    return await ReferralRepository(session, workspace_id).get(referral_id)


async def get_lead(session: AsyncSession, workspace_id: uuid.UUID, lead_id: uuid.UUID) -> Lead:
    return await LeadRepository(session, workspace_id).get(lead_id)


async def referrals_by_id(
    session: AsyncSession, workspace_id: uuid.UUID, ids: Sequence[uuid.UUID | None]
) -> dict[uuid.UUID, Referral]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    stmt = ReferralRepository(session, workspace_id).select().where(Referral.id.in_(wanted))
    return {r.id: r for r in (await session.scalars(stmt)).all()}


async def list_referrals(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    filters: dict[str, Any],
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Referral], str | None]:
    stmt = ReferralRepository(session, workspace_id).select()
    for name, value in filters.items():
        if value is not None:
            stmt = stmt.where(getattr(Referral, name) == value)
    return await fetch_page(session, stmt, Referral.id, limit, cursor)


async def list_leads(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    filters: dict[str, Any],
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Lead], str | None]:
    stmt = LeadRepository(session, workspace_id).select()
    for name, value in filters.items():
        if value is not None:
            stmt = stmt.where(getattr(Lead, name) == value)
    return await fetch_page(session, stmt, Lead.id, limit, cursor)


async def counts_for_promoter(
    session: AsyncSession, workspace_id: uuid.UUID, promoter_id: uuid.UUID
) -> tuple[int, int]:
    """(leads, referrals) of the promoter. A lead counts when it made the promoter's referral:
    one refused (a self-referral) or for a customer referred before is not one they brought."""
    leads = select(func.count()).where(
        Lead.workspace_id == workspace_id,
        Lead.promoter_id == promoter_id,
        Lead.status == "referred",
    )
    referrals = select(func.count()).where(
        Referral.workspace_id == workspace_id, Referral.promoter_id == promoter_id
    )
    return (
        int((await session.execute(leads)).scalar_one()),
        int((await session.execute(referrals)).scalar_one()),
    )


async def accessible_program_of(
    session: AsyncSession, workspace_id: uuid.UUID, customer_id: uuid.UUID
) -> tuple[Customer, Referral, Program] | None:
    """The customer, its referral and that referral's program, if the program is active."""
    customer = await CustomerRepository(session, workspace_id).find(customer_id)
    if customer is None:
        return None
    referral = await referral_of(session, workspace_id, customer_id)
    if referral is None:
        return None
    program = await programs.get(session, workspace_id, referral.program_id)
    if program.status != "active":
        return None
    return customer, referral, program
