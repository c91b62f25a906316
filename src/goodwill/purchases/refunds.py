"""Refunds: full or partial, never more than remains; each one undoes its share of rewards.

The purchase row is locked first, so refunds of one purchase happen one at a time. An
``external_id`` makes a refund idempotent: the same id with the same request answers the
first refund; with another amount it is a 409.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.customers.models import Customer
from goodwill.db.upsert import insert_or_nothing
from goodwill.errors import Conflict, ValidationFailed
from goodwill.events.service import emit
from goodwill.http.encoding import to_builtins
from goodwill.ids import new_id
from goodwill.loyalty import service as loyalty
from goodwill.money import from_minor, to_minor
from goodwill.purchases.events import purchase_attributes
from goodwill.purchases.models import Purchase, Refund
from goodwill.purchases.schemas import RefundCreate, RefundOut
from goodwill.purchases.service import PurchaseRepository, loyalty_facts
from goodwill.rewards import service as rewards_service
from goodwill.rewards.models import Reward

REFUNDS: Table = Refund.__table__  # type: ignore[assignment]


def _fingerprint(requested: int | None) -> str:
    return hashlib.sha256(f"refund:{requested}".encode()).hexdigest()


async def refund(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    purchase_id: uuid.UUID,
    data: RefundCreate,
    *,
    now: datetime,
    source: str,
) -> tuple[Refund, Purchase, bool]:
    """Refund ``data.amount`` (default: all that remains). (refund, purchase, created)."""
    purchase = await PurchaseRepository(session, workspace_id).get(purchase_id, for_update=True)
    requested = None
    if data.amount is not None:
        requested = to_minor(data.amount, purchase.currency, "amount")
    fingerprint = _fingerprint(requested)
    if data.external_id is not None:
        existing = await _by_external_id(session, purchase, data.external_id)
        if existing is not None:
            if existing.fingerprint != fingerprint:
                raise Conflict(
                    f"Refund {existing.id} of this purchase has external_id "
                    f"{data.external_id!r} and another amount",
                    param="external_id",
                )
            return existing, purchase, False
    remaining = purchase.amount_minor - purchase.refunded_minor
    if purchase.status == "refunded":
        raise Conflict(f"Purchase {purchase.id} is refunded in full already", param="amount")
    amount = remaining if requested is None else requested
    if amount > remaining:
        left = from_minor(remaining, purchase.currency)
        raise ValidationFailed.single(
            "amount", f"is more than the {left} {purchase.currency} that remains to refund"
        )
    if amount == 0 and remaining > 0:
        raise ValidationFailed.single("amount", "must be more than 0")
    values = {
        "id": new_id(),
        "workspace_id": workspace_id,
        "purchase_id": purchase.id,
        "external_id": data.external_id,
        "fingerprint": fingerprint,
        "amount_minor": amount,
        "created_at": now,
    }
    if data.external_id is None:
        await session.execute(insert(REFUNDS).values(**values))
    elif not await insert_or_nothing(
        session, REFUNDS, values, ["workspace_id", "purchase_id", "external_id"]
    ):  # the purchase row lock makes this unreachable; a clean 409 if it ever is not
        raise Conflict("A concurrent refund used this external_id; retry", param="external_id")
    refund = Refund(**values)
    purchase.refunded_minor += amount
    purchase.status = (
        "refunded" if purchase.refunded_minor >= purchase.amount_minor else "partially_refunded"
    )
    purchase.updated_at = now
    await session.flush()
    await after_refund_recorded(session, purchase, refund, now=now, source=source)
    return refund, purchase, True


async def after_refund_recorded(
    session: AsyncSession, purchase: Purchase, refund: Refund, *, now: datetime, source: str
) -> list[Reward]:
    """Everything that reacts to a recorded refund, in its transaction: the referral rewards
    are reversed, voided or clawed back, then ``purchase.refunded`` is written. Other
    programs (stamps, points) then void stamps and claw back points. Returns the purchase's
    rewards."""
    undone = await rewards_service.undo_for_refund(
        session,
        purchase.workspace_id,
        purchase.id,
        refunded_minor=purchase.refunded_minor,
        purchase_minor=purchase.amount_minor,
        refund_id=refund.id,
        now=now,
        source=source,
    )
    await emit(
        session,
        workspace_id=purchase.workspace_id,
        type="purchase.refunded",
        source=source,
        subject=purchase.id,
        data=to_builtins(RefundOut.of(refund, purchase)),
        now=now,
        attributes=purchase_attributes(purchase.program_id, purchase.promoter_id),
    )
    customer = await session.get(Customer, purchase.customer_id)
    await loyalty.record_refund(
        session,
        purchase.workspace_id,
        loyalty_facts(purchase, {} if customer is None else customer.metadata_),
        refunded_minor_total=purchase.refunded_minor,
        fully_refunded=purchase.refunded_minor >= purchase.amount_minor,
        now=now,
        source=source,
    )
    return undone


async def _by_external_id(
    session: AsyncSession, purchase: Purchase, external_id: str
) -> Refund | None:
    stmt = select(Refund).where(
        Refund.workspace_id == purchase.workspace_id,
        Refund.purchase_id == purchase.id,
        Refund.external_id == external_id,
    )
    return (await session.scalars(stmt)).first()
