"""The ``purchase.created`` event in seed 000's shape, and the plain numbers it carries.

The event is stored without its data and rendered from the purchase's row when read
(``goodwill.events.refs``): every column it is made of stays as written (a refund moves the
purchase's refunded amount, status and update time, none of them in the payload but
``updated_at``, which is rendered as written: the creation time). What the row does not hold,
the workspace's event type prefix when the event was emitted, is stored with the event.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.clock import format_time
from goodwill.db.repository import among
from goodwill.money import from_minor
from goodwill.purchases.models import Purchase
from goodwill.rewards.service import attributes


def plain_number(value: Decimal) -> Decimal:
    """``420.00`` → ``420``, ``12.50`` → ``12.5``: the same exact number, as seed 000 and 002
    write it (never in exponent form)."""
    normal = value.normalize()
    if normal == normal.to_integral_value():
        return normal.quantize(Decimal(1))
    return normal


class Written(Protocol):
    """The columns of a purchase that ``purchase.created`` is made of."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def customer_id(self) -> uuid.UUID: ...
    @property
    def promoter_id(self) -> uuid.UUID | None: ...
    @property
    def link_id(self) -> uuid.UUID | None: ...
    @property
    def items(self) -> list[Any]: ...
    @property
    def amount_minor(self) -> int: ...
    @property
    def currency(self) -> str: ...
    @property
    def utm_params(self) -> dict[str, Any] | None: ...
    @property
    def created_at(self) -> datetime: ...


_WRITTEN_COLUMNS = (
    Purchase.id,
    Purchase.workspace_id,
    Purchase.customer_id,
    Purchase.program_id,
    Purchase.promoter_id,
    Purchase.link_id,
    Purchase.items,
    Purchase.amount_minor,
    Purchase.currency,
    Purchase.utm_params,
    Purchase.created_at,
)


def purchase_attributes(
    program_id: uuid.UUID | None, promoter_id: uuid.UUID | None
) -> dict[str, str]:
    """The CloudEvents context attributes of a purchase's events: its program and promoter,
    none for a purchase attributed to nobody."""
    if program_id is None:
        return {}
    return attributes(program_id, promoter_id)


def purchase_created_data(purchase: Written, prefix: str) -> dict[str, Any]:
    """Exactly seed 000's ``data`` for a purchase as it was recorded (``updated_at`` is its
    creation time): ``utm_params`` only when the purchase has some."""
    first = purchase.items[0] if purchase.items else None
    created_at = format_time(purchase.created_at)
    data: dict[str, Any] = {
        "@entity": f"{prefix}.purchase",
        "trigger_type": "purchase",
        "purchase_id": str(purchase.id),
        "contact_id": str(purchase.customer_id),
        "promoter_id": None if purchase.promoter_id is None else str(purchase.promoter_id),
        "link_id": None if purchase.link_id is None else str(purchase.link_id),
        "item_id": None if first is None else first.get("item_id"),
        "amount": plain_number(from_minor(purchase.amount_minor, purchase.currency)),
        "created_at": created_at,
        "updated_at": created_at,
    }
    if purchase.utm_params:
        data["utm_params"] = dict(purchase.utm_params)
    return data


async def created_events_data(
    session: AsyncSession, prefixes: Mapping[uuid.UUID, list[Any]]
) -> dict[uuid.UUID, tuple[uuid.UUID, dict[str, Any], dict[str, Any]]]:
    """The ``purchase.created`` data and attributes of the purchases ``prefixes`` names, each
    with the event type prefix stored with its event, and their workspaces
    (``goodwill.events.refs``)."""
    rows = await session.execute(
        select(*_WRITTEN_COLUMNS).where(among(session, Purchase.id, list(prefixes)))
    )
    return {
        row.id: (
            row.workspace_id,
            purchase_created_data(row, prefixes[row.id][0]),
            purchase_attributes(row.program_id, row.promoter_id),
        )
        for row in rows
    }
