"""Tracking a custom event: check it, upsert its customer, record it, and let loyalty and the
referral engine act on it, all in the caller's transaction.

Nothing is written before every check that can refuse the event has passed, except the
customer upsert, which a later refusal rolls back with the rest of the transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from msgspec import UNSET
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.customers import service as customers
from goodwill.customers.models import Customer
from goodwill.customers.schemas import CustomerPatch, CustomerUpsert
from goodwill.db.raw import insert_into, raw
from goodwill.errors import NotFound, ValidationFailed
from goodwill.events.service import emit
from goodwill.http.encoding import to_builtins
from goodwill.ids import new_id
from goodwill.loyalty import service as loyalty
from goodwill.loyalty.facts import EventFacts
from goodwill.referrals import service as referrals
from goodwill.tracking import event_schemas
from goodwill.tracking.models import CustomEvent
from goodwill.tracking.schemas import EventCustomer, EventCustomerOut, EventIn, EventOut

_INSERT = insert_into(CustomEvent.__table__)  # type: ignore[arg-type]


def _echo(value: msgspec.Struct | None) -> dict[str, Any] | None:
    """A sub-object as it was given (fields left out stay out)."""
    if value is None:
        return None
    return {k: v for k, v in msgspec.structs.asdict(value).items() if v is not None}


async def _customer(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    given: EventCustomer,
    now: datetime,
    source: str,
) -> Customer:
    if given.id is None:
        if given.source_id is None:
            raise ValidationFailed.single(
                "customer", "give the customer's source_id (or the id Goodwill gave it)", "required"
            )
        upsert = CustomerUpsert(
            source_id=given.source_id, email=given.email, name=given.name, metadata=given.metadata
        )
        customer, _ = await customers.upsert(session, workspace_id, upsert, now, source)
        return customer
    customer = await customers.resolve(
        session, workspace_id, id=given.id, source_id=given.source_id
    )
    patch = CustomerPatch(email=given.email, name=given.name, metadata=given.metadata)
    if any(v is not UNSET for v in (patch.email, patch.name, patch.metadata)):
        customer = await customers.patch(session, workspace_id, customer.id, patch, now)
    return customer


async def track(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    data: EventIn,
    *,
    require_schema: bool,
    channel: str,
    now: datetime,
    source: str,
) -> EventOut:
    """Record ``data`` (seed 003) and answer in seed 003's shape."""
    await event_schemas.check_event(
        session, workspace_id, data.event, data.metadata, require_schema=require_schema
    )
    card = None
    if data.loyalty is not None:
        card = await loyalty.card_by_code(session, workspace_id, data.loyalty.code)
        if card is None:
            raise NotFound(f"No loyalty card {data.loyalty.code!r}", param="loyalty.code")
    customer = await _customer(session, workspace_id, data.customer, now, source)
    if card is not None and card.customer_id != customer.id:
        raise ValidationFailed.single(
            "loyalty.code", "this loyalty card belongs to another customer"
        )

    event_id = new_id()
    referral = _echo(data.referral)
    await (await raw(session)).run(
        _INSERT,
        id=event_id,
        workspace_id=workspace_id,
        name=data.event,
        customer_id=customer.id,
        card_id=None if card is None else card.id,
        referral=referral,
        metadata=data.metadata,
        channel=channel,
        created_at=now,
    )
    out = EventOut(type=data.event, customer=EventCustomerOut.of(customer), metadata=data.metadata)
    await emit(
        session,
        workspace_id=workspace_id,
        type="event.tracked",
        source=source,
        subject=event_id,
        data=to_builtins(out),
        now=now,
    )
    await loyalty.record_custom_event(
        session,
        workspace_id,
        EventFacts(
            event_id=event_id,
            name=data.event,
            customer_id=customer.id,
            metadata=data.metadata,
            customer_metadata=customer.metadata_,
        ),
        card=card,
        now=now,
        source=source,
    )

    # The referral side: the customer's referral (first touch wins, else one made now from
    # ``referral.code`` or ``referral.referrer_id``) fires its program's ``custom:<event>``
    # rules; an unknown code or referrer is a 404 that undoes the whole event.
    try:
        await referrals.record_conversion(
            session,
            workspace_id,
            customer_id=customer.id,
            event_name=data.event,
            code=None if data.referral is None else data.referral.code,
            referrer_id=None if data.referral is None else data.referral.referrer_id,
            metadata=data.metadata,
            now=now,
            source=source,
            event_id=event_id,
        )
    except NotFound as missing:
        param = (
            f"referral.{missing.param}"
            if missing.param in ("code", "referrer_id")
            else missing.param
        )
        raise NotFound(missing.message, param=param) from None
    return out
