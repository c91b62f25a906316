"""Attribution: who referred a customer. First touch wins; self-referral is refused.

Everything here decides without writing, except :func:`save_referral`. Whatever may make a
referral first locks the customer's row (:func:`resolve_customer`), so for one customer these
decisions happen one at a time and the counters of the rules stay exact.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from msgspec import UNSET
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.customers import service as customers
from goodwill.customers.models import Customer
from goodwill.customers.schemas import CustomerUpsert
from goodwill.customers.service import CustomerRepository
from goodwill.db.repository import Repository
from goodwill.db.upsert import insert_or_nothing
from goodwill.errors import Conflict
from goodwill.events.service import emit
from goodwill.http.encoding import to_builtins
from goodwill.ids import new_id
from goodwill.links import service as links
from goodwill.links.models import Click, ReferralLink
from goodwill.programs import service as programs
from goodwill.programs.models import Program
from goodwill.promoters import service as promoters
from goodwill.promoters.models import Promoter
from goodwill.referrals.models import Referral
from goodwill.referrals.schemas import Attribution, CustomerRef, ReferralOut
from goodwill.rewards import grant
from goodwill.rewards.service import attributes
from goodwill.rules.engine import Block, Occurrence

REFERRALS: Table = Referral.__table__  # type: ignore[assignment]


class ReferralRepository(Repository[Referral]):
    model = Referral
    noun = "referral"


@dataclass(frozen=True)
class Touch:
    """An attribution as given: the link, how it was named, and the click if any."""

    link: ReferralLink
    via: str  # code | link_id | click_id | referrer_id
    click: Click | None = None


@dataclass
class Attributed:
    """Whom an occurrence is attributed to, and whether that makes a new referral.

    ``status``: ``referred`` (a new referral), ``existing`` (the customer's referral stands),
    ``refused`` (``block`` says why) or ``none`` (nothing to attribute to).
    """

    status: str
    message: str
    program: Program | None = None
    promoter: Promoter | None = None
    link_id: uuid.UUID | None = None
    click_id: uuid.UUID | None = None
    referral: Referral | None = None
    via: str | None = None
    block: Block | None = None

    @property
    def is_new(self) -> bool:
        return self.status == "referred"

    def explain(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "via": self.via,
            "program_id": None if self.program is None else str(self.program.id),
            "promoter_id": None if self.promoter is None else str(self.promoter.id),
            "referral_id": None if self.referral is None else str(self.referral.id),
            "code": None if self.block is None else self.block.code,
            "message": self.message,
        }


async def resolve_customer(
    session: AsyncSession, workspace_id: uuid.UUID, ref: CustomerRef, now: datetime, source: str
) -> Customer:
    """The customer named by ``ref`` (created or updated by ``source_id``), locked."""
    repo = CustomerRepository(session, workspace_id)
    if ref.id is not None:
        customer = await repo.get(ref.id, param="customer.id")
    else:
        assert ref.source_id is not None
        upsert = CustomerUpsert(
            source_id=ref.source_id,
            email=UNSET if ref.email is None else ref.email,
            name=UNSET if ref.name is None else ref.name,
            metadata=UNSET if ref.metadata is None else ref.metadata,
        )
        customer, _ = await customers.upsert(session, workspace_id, upsert, now, source)
    await repo.lock(customer.id)
    return customer


async def resolve_touch(
    session: AsyncSession, workspace_id: uuid.UUID, given: Attribution
) -> Touch | None:
    """The link named by ``code``, ``link_id`` or ``click_id``; unknown ones are a 404."""
    if given.code is not None:
        return Touch(await links.by_code(session, workspace_id, given.code), "code")
    if given.link_id is not None:
        link = await links.LinkRepository(session, workspace_id).get(given.link_id, param="link_id")
        return Touch(link, "link_id")
    if given.click_id is not None:
        click = await links.get_click(session, workspace_id, given.click_id, param="click_id")
        return Touch(await links.get(session, workspace_id, click.link_id), "click_id", click)
    return None


async def referral_of(
    session: AsyncSession, workspace_id: uuid.UUID, customer_id: uuid.UUID
) -> Referral | None:
    stmt = (
        ReferralRepository(session, workspace_id)
        .select()
        .where(Referral.customer_id == customer_id)
    )
    return (await session.scalars(stmt)).first()


def is_self_referral(promoter: Promoter, customer: Customer) -> bool:
    if promoter.customer_id is not None and promoter.customer_id == customer.id:
        return True
    return bool(
        promoter.email and customer.email and promoter.email.lower() == customer.email.lower()
    )


async def attribute(
    session: AsyncSession,
    customer: Customer,
    touch: Touch | None,
    *,
    at: datetime,
    now: datetime,
    source_kind: str,
) -> Attributed:
    """Decide the attribution of something ``customer`` did at ``at``; writes nothing."""
    workspace_id = customer.workspace_id
    existing = await referral_of(session, workspace_id, customer.id)
    if existing is not None:
        program = await programs.get(session, workspace_id, existing.program_id)
        promoter = await promoters.get(session, workspace_id, existing.promoter_id)
        message = "the customer's referral"
        if touch is not None and touch.link.promoter_id != existing.promoter_id:
            message = (
                f"the customer was referred before by promoter {existing.promoter_id}; "
                "the first referral stands"
            )
        return Attributed(
            "existing",
            message,
            program,
            promoter,
            existing.link_id,
            existing.click_id,
            existing,
            "referral",
        )
    if touch is None:
        return Attributed("none", "no attribution was given and the customer has no referral")
    link = touch.link
    program = await programs.get(session, workspace_id, link.program_id)
    promoter = await promoters.get(session, workspace_id, link.promoter_id)
    click_id = None if touch.click is None else touch.click.id
    block = None
    if is_self_referral(promoter, customer):
        block = Block(
            "self_referral",
            "self-referral: the customer is the promoter (the same customer or the same email)",
        )
    elif program.status == "archived":
        block = Block("program_archived", "the program is archived: it makes no new referrals")
    elif touch.click is not None:
        days = int(program.settings.get("attribution_window_days", 30))
        if at > touch.click.created_at + timedelta(days=days):
            block = Block(
                "attribution_expired",
                f"the click is older than the program's attribution window of {days} days",
            )
    if block is not None:
        return Attributed(
            "refused", block.reason, program, promoter, link.id, click_id, None, touch.via, block
        )
    referral = Referral(
        id=new_id(),
        workspace_id=workspace_id,
        program_id=program.id,
        promoter_id=promoter.id,
        link_id=link.id,
        click_id=click_id,
        customer_id=customer.id,
        source=source_kind,
        referred_at=at,
        created_at=now,
    )
    return Attributed(
        "referred",
        f"referred by promoter {promoter.id} through {touch.via}",
        program,
        promoter,
        link.id,
        click_id,
        referral,
        touch.via,
    )


async def save_referral(
    session: AsyncSession, referral: Referral, now: datetime, source: str
) -> None:
    """Write a new referral and its ``referral.created`` event."""
    values = {c.key: getattr(referral, c.key) for c in REFERRALS.columns}
    if not await insert_or_nothing(session, REFERRALS, values, ["workspace_id", "customer_id"]):
        raise Conflict("The customer was referred by a concurrent request; retry to see it")
    await emit(
        session,
        workspace_id=referral.workspace_id,
        type="referral.created",
        source=source,
        subject=referral.id,
        data=to_builtins(ReferralOut.of(referral)),
        now=now,
        attributes=attributes(referral.program_id, referral.promoter_id),
    )


def days_since(referred_at: datetime | None, at: datetime) -> int | None:
    if referred_at is None:
        return None
    return max(0, (at - referred_at) // timedelta(days=1))


def customer_facts(customer: Customer) -> dict[str, Any]:
    return {
        "id": str(customer.id),
        "source_id": customer.source_id,
        "email": customer.email,
        "metadata": customer.metadata_,
    }


def occurrence_for(
    attributed: Attributed,
    *,
    trigger: str,
    at: datetime,
    now: datetime,
    facts: dict[str, Any],
    amount_minor: int | None = None,
    currency: str | None = None,
    block: Block | None = None,
) -> Occurrence:
    assert attributed.program is not None
    referred_at = None if attributed.referral is None else attributed.referral.referred_at
    days = days_since(referred_at, at)
    if days is not None:
        facts = {**facts, "days_since_referral": days}
    if attributed.promoter is not None:
        facts = {**facts, "promoter": {"metadata": attributed.promoter.metadata_}}
    return Occurrence(
        trigger=trigger,
        at=at,
        now=now,
        program_status=attributed.program.status,
        program_currency=attributed.program.currency,
        facts=facts,
        amount_minor=amount_minor,
        currency=currency,
        referred_at=referred_at,
        block=block or attributed.block,
    )


def target_for(
    attributed: Attributed,
    customer: Customer,
    source_type: str,
    source_id: uuid.UUID,
    purchase_id: uuid.UUID | None = None,
) -> grant.Target:
    assert attributed.program is not None
    assert attributed.promoter is not None
    return grant.Target(
        program=attributed.program,
        promoter_id=attributed.promoter.id,
        referral_id=None if attributed.referral is None else attributed.referral.id,
        customer_id=customer.id,
        source_type=source_type,
        source_id=source_id,
        purchase_id=purchase_id,
    )
