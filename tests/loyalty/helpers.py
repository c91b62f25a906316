"""Building blocks for loyalty tests: programs, customers and purchases described as facts."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from goodwill.customers import service as customers
from goodwill.customers.models import Customer
from goodwill.customers.schemas import CustomerUpsert
from goodwill.db import Database
from goodwill.events.models import Event
from goodwill.ids import new_id
from goodwill.loyalty.facts import PurchaseFacts, PurchaseItem
from goodwill.money import to_minor
from goodwill.programs import service as programs
from goodwill.programs.models import Program
from goodwill.programs.schemas import ProgramCreate
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
        external_id=external_id or f"txn-{pid.hex[:8]}",
        amount_minor=to_minor(Decimal(amount), currency),
        currency=currency,
        items=items,
        occurred_at=occurred_at,
        customer_metadata=customer_metadata or {},
    )


async def events_of(db: Database, workspace_id: uuid.UUID, prefix: str = "") -> list[Event]:
    return [e for e in await stored_events(db, workspace_id) if e.type.startswith(prefix)]
