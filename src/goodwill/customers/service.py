"""Customers: upsert by ``source_id`` (insert-or-nothing, then update), read, list, patch."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from msgspec import UNSET
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.customers.models import Customer
from goodwill.customers.schemas import CustomerOut, CustomerPatch, CustomerUpsert
from goodwill.db.repository import Repository
from goodwill.db.upsert import insert_or_nothing
from goodwill.errors import Conflict, NotFound, ValidationFailed
from goodwill.events.service import emit
from goodwill.http.encoding import to_builtins
from goodwill.http.pagination import fetch_page
from goodwill.ids import new_id


class CustomerRepository(Repository[Customer]):
    model = Customer
    noun = "customer"

    async def by_source_id(self, source_id: str) -> Customer | None:
        return (
            await self.session.scalars(self.select().where(Customer.source_id == source_id))
        ).first()


def _changes(data: CustomerUpsert | CustomerPatch) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for field in ("source_id", "email", "name", "metadata"):
        value = getattr(data, field, UNSET)
        if value is not UNSET:
            changes["metadata_" if field == "metadata" else field] = value
    return changes


async def upsert(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    data: CustomerUpsert,
    now: datetime,
    source: str,
) -> tuple[Customer, bool]:
    """Create the customer with ``data.source_id``, or update the fields given. (row, created)."""
    repo = CustomerRepository(session, workspace_id)
    changes = _changes(data)
    inserted = await insert_or_nothing(
        session,
        Customer.__table__,  # type: ignore[arg-type]
        {
            "id": new_id(),
            "workspace_id": workspace_id,
            "source_id": data.source_id,
            "email": changes.get("email"),
            "name": changes.get("name"),
            "metadata": changes.get("metadata_", {}),
            "created_at": now,
            "updated_at": now,
        },
        ["workspace_id", "source_id"],
    )
    customer = await repo.by_source_id(data.source_id)
    assert customer is not None
    if inserted:
        await emit(
            session,
            workspace_id=workspace_id,
            type="customer.created",
            source=source,
            subject=customer.id,
            data=to_builtins(CustomerOut.of(customer)),
            now=now,
        )
        return customer, True
    changes.pop("source_id")
    await _apply(session, customer, changes, now)
    return customer, False


async def patch(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    customer_id: uuid.UUID,
    data: CustomerPatch,
    now: datetime,
) -> Customer:
    repo = CustomerRepository(session, workspace_id)
    customer = await repo.get(customer_id, for_update=True)
    changes = _changes(data)
    new_source = changes.get("source_id")
    taken = Conflict(f"Another customer already has source_id {new_source!r}", param="source_id")
    if (
        new_source is not None
        and new_source != customer.source_id
        and await repo.by_source_id(new_source) is not None
    ):
        raise taken
    try:
        await _apply(session, customer, changes, now)
    except IntegrityError as exc:
        # A concurrent request took the source_id after the check: the constraint decides.
        if "source_id" not in str(exc.orig):
            raise
        raise taken from None
    return customer


async def _apply(
    session: AsyncSession, customer: Customer, changes: dict[str, Any], now: datetime
) -> None:
    changed = {k: v for k, v in changes.items() if getattr(customer, k) != v}
    if not changed:
        return
    columns = {("metadata" if k == "metadata_" else k): v for k, v in changed.items()}
    await session.execute(
        update(Customer.__table__)  # type: ignore[arg-type]
        .where(Customer.__table__.c.id == customer.id)
        .values(**columns, updated_at=now)
    )
    await session.refresh(customer)


async def get(session: AsyncSession, workspace_id: uuid.UUID, customer_id: uuid.UUID) -> Customer:
    return await CustomerRepository(session, workspace_id).get(customer_id)


async def resolve(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    id: uuid.UUID | None,
    source_id: str | None,
    param: str = "customer",
) -> Customer:
    """An existing customer named by ``id`` or ``source_id`` (both: they must agree)."""
    repo = CustomerRepository(session, workspace_id)
    if id is None and source_id is None:
        raise ValidationFailed.single(param, "give the customer's id or source_id", "required")
    if id is not None:
        customer = await repo.get(id, param=f"{param}.id")
        if source_id is not None and customer.source_id != source_id:
            raise ValidationFailed.single(
                f"{param}.source_id", f"customer {id} has another source_id"
            )
        return customer
    assert source_id is not None
    found = await repo.by_source_id(source_id)
    if found is None:
        raise NotFound(f"No customer with source_id {source_id!r}", param=f"{param}.source_id")
    return found


async def list_(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    source_id: str | None,
    email: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Customer], str | None]:
    repo = CustomerRepository(session, workspace_id)
    stmt = repo.select()
    if source_id is not None:
        stmt = stmt.where(Customer.source_id == source_id)
    if email is not None:
        stmt = stmt.where(Customer.email == email)
    return await fetch_page(session, stmt, Customer.id, limit, cursor)


__all__ = ["CustomerRepository", "get", "list_", "patch", "resolve", "select", "upsert"]
