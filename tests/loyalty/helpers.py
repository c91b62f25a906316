"""Building blocks for loyalty tests: programs, customers and purchases described as facts."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.customers import service as customers
from goodwill.customers.models import Customer
from goodwill.customers.schemas import CustomerUpsert
from goodwill.db import Database
from goodwill.events.models import Event
from goodwill.ids import new_id
from goodwill.loyalty import service as loyalty
from goodwill.loyalty.facts import LoyaltyOutcome, PurchaseFacts, PurchaseItem
from goodwill.money import to_minor
from goodwill.programs import service as programs
from goodwill.programs.models import Program
from goodwill.programs.schemas import ProgramCreate
from goodwill.purchases.models import Purchase
from tests.kit import stored_events

SOURCE = "urn:POST:/purchases"
COFFEE_CARD = {"stamps_required": 9, "reward": {"description": "The 10th coffee free"}}


async def make_program(
    db: Database,
    workspace_id: uuid.UUID,
    kind: str,
    settings: dict[str, Any],
    *,
    currency: str = "EUR",
    status: str = "active",
    now: datetime,
) -> Program:
    async with db.transaction() as session:
        return await programs.create(
            session,
            workspace_id,
            ProgramCreate(
                kind=kind,  # type: ignore[arg-type]
                name=f"{kind} program",
                currency=currency,
                status=status,  # type: ignore[arg-type]
                settings=settings,
            ),
            now,
        )


async def make_customer(
    db: Database,
    workspace_id: uuid.UUID,
    source_id: str = "cust-1",
    *,
    metadata: dict[str, Any] | None = None,
    now: datetime,
) -> Customer:
    async with db.transaction() as session:
        customer, _ = await customers.upsert(
            session,
            workspace_id,
            CustomerUpsert(source_id=source_id, metadata=metadata or {}),
            now,
            "urn:POST:/customers",
        )
        return customer


def item(
    amount: str, *, quantity: int = 1, product_id: str | None = None, item_id: str | None = None
) -> PurchaseItem:
    return PurchaseItem(
        product_id=product_id,
        item_id=item_id,
        quantity=quantity,
        amount_minor=to_minor(Decimal(amount), "EUR"),
    )


def purchase(
    customer_id: uuid.UUID,
    amount: str = "4.50",
    *,
    currency: str = "EUR",
    items: tuple[PurchaseItem, ...] = (),
    external_id: str | None = None,
    occurred_at: datetime | None = None,
    purchase_id: uuid.UUID | None = None,
    customer_metadata: dict[str, Any] | None = None,
) -> PurchaseFacts:
    pid = purchase_id or new_id()
    return PurchaseFacts(
        purchase_id=pid,
        customer_id=customer_id,
        external_id=external_id or f"txn-{pid.hex[-12:]}",  # the random end of a UUIDv7
        amount_minor=to_minor(Decimal(amount), currency),
        currency=currency,
        items=items,
        occurred_at=occurred_at,
        customer_metadata=customer_metadata or {},
    )


async def record_purchase(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    facts: PurchaseFacts,
    *,
    now: datetime,
    source: str,
) -> LoyaltyOutcome:
    """``goodwill.loyalty.service.record_purchase`` after storing the purchase the facts
    describe (once), as the purchase service does: a stamp reads its ``transaction_ref``
    from its purchase."""
    if await session.get(Purchase, facts.purchase_id) is None:
        session.add(
            Purchase(
                id=facts.purchase_id,
                workspace_id=workspace_id,
                external_id=facts.external_id,
                fingerprint=facts.purchase_id.bytes,
                customer_id=facts.customer_id,
                amount_minor=facts.amount_minor,
                refunded_minor=0,
                currency=facts.currency,
                items=[],
                purchase_number=1,
                status="completed",
                explanation={},
                occurred_at=facts.occurred_at or now,
                created_at=now,
            )
        )
        await session.flush()
    return await loyalty.record_purchase(session, workspace_id, facts, now=now, source=source)


async def events_of(db: Database, workspace_id: uuid.UUID, prefix: str = "") -> list[Event]:
    return [e for e in await stored_events(db, workspace_id) if e.type.startswith(prefix)]
