"""The loyalty events' data, in the exact shapes of seed 001 for qualifying purchases.

    qualifying_purchase.created     … "created_at"
    qualifying_purchase.voided      … "voided_at"
    qualifying_purchase.redeemed    … "redeemed_at"
    qualifying_purchase.unredeemed  (the common fields only)

The common fields are ``qualifying_purchase_id``, ``loyalty_program_id``, ``transaction_id`` (the
purchase id) and ``transaction_ref`` (the purchase's ``external_id``); nothing else, so the flat
rendering ``{"event_id", "timestamp", "type", **data}`` is the seed's.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.clock import format_time
from goodwill.db.repository import among
from goodwill.events.service import emit
from goodwill.loyalty.models import QualifyingPurchase

_TIME_FIELD = {
    "created": "created_at",
    "voided": "voided_at",
    "redeemed": "redeemed_at",
    "unredeemed": None,
}


def qualifying_purchase_data(
    change: str,
    *,
    qualifying_purchase_id: uuid.UUID,
    program_id: uuid.UUID,
    purchase_id: uuid.UUID,
    transaction_ref: str,
    at: datetime,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "qualifying_purchase_id": str(qualifying_purchase_id),
        "loyalty_program_id": str(program_id),
        "transaction_id": str(purchase_id),
        "transaction_ref": transaction_ref,
    }
    field = _TIME_FIELD[change]
    if field is not None:
        data[field] = format_time(at)
    return data


async def emit_qualifying_purchase(
    session: AsyncSession,
    change: str,
    *,
    workspace_id: uuid.UUID,
    qualifying_purchase_id: uuid.UUID,
    program_id: uuid.UUID,
    purchase_id: uuid.UUID,
    transaction_ref: str,
    now: datetime,
    source: str,
    as_written: bool = False,
) -> None:
    """``as_written``: a ``created`` stamp written in this transaction at ``now``, whose event
    is rendered from its row when read (:func:`created_events_data`)."""
    await emit(
        session,
        workspace_id=workspace_id,
        type=f"qualifying_purchase.{change}",
        source=source,
        subject=qualifying_purchase_id,
        data=None
        if as_written
        else qualifying_purchase_data(
            change,
            qualifying_purchase_id=qualifying_purchase_id,
            program_id=program_id,
            purchase_id=purchase_id,
            transaction_ref=transaction_ref,
            at=now,
        ),
        now=now,
        attributes=None if as_written else stamp_attributes(program_id),
    )


def stamp_attributes(program_id: uuid.UUID) -> dict[str, str]:
    """The CloudEvents context attributes of a stamp's event."""
    return {"program_id": str(program_id)}


# What a stamp never changes once written: its ``qualifying_purchase.created`` is made of these.
_WRITTEN = (
    QualifyingPurchase.id,
    QualifyingPurchase.workspace_id,
    QualifyingPurchase.program_id,
    QualifyingPurchase.purchase_id,
    QualifyingPurchase.transaction_ref,
    QualifyingPurchase.created_at,
)


async def created_events_data(
    session: AsyncSession, ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, tuple[uuid.UUID, dict[str, Any], dict[str, Any]]]:
    """The ``qualifying_purchase.created`` data and attributes of the stamps ``ids``, with
    their workspaces, read from what their rows never change (``goodwill.events.refs``)."""
    rows = await session.execute(
        select(*_WRITTEN).where(among(session, QualifyingPurchase.id, ids))
    )
    return {
        row.id: (
            row.workspace_id,
            qualifying_purchase_data(
                "created",
                qualifying_purchase_id=row.id,
                program_id=row.program_id,
                purchase_id=row.purchase_id,
                transaction_ref=row.transaction_ref,
                at=row.created_at,
            ),
            stamp_attributes(row.program_id),
        )
        for row in rows
    }
