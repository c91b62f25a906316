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
from goodwill.db.raw import Raw, Row, Sql, raw, view
from goodwill.db.repository import Repository
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


_COLUMNS = "id, source_id, email, name, metadata, created_at, updated_at"
# A customer by ``:source_id`` or by ``:id`` in ``:workspace_id``, with the lock (if any)
# appended: the columns :func:`_customer` reads. Also a part of other statements (see
# goodwill.referrals.attribution.open_).
SELECT_BY = {
    by: f"SELECT {_COLUMNS} FROM customers "  # noqa: S608 - fixed names, no input
    f"WHERE workspace_id = :workspace_id AND {by} = :{by}"
    for by in ("source_id", "id")
}
SELECT_WIDTH = _COLUMNS.count(",") + 1
_BY_SOURCE = {lock: Sql(SELECT_BY["source_id"] + lock) for lock in ("", " FOR UPDATE")}
_BY_ID = {lock: Sql(SELECT_BY["id"] + lock) for lock in ("", " FOR UPDATE")}
_INSERT = Sql(
    "INSERT INTO customers (id, workspace_id, source_id, email, name, metadata, created_at, "
    "updated_at) VALUES (:id, :workspace_id, :source_id, :email, :name, :metadata, :now, :now) "
    "ON CONFLICT (workspace_id, source_id) DO NOTHING RETURNING id"
)
_UPDATE = Sql(
    "UPDATE customers SET email = :email, name = :name, metadata = :metadata, "
    "updated_at = :updated_at WHERE id = :id"
)


def _customer(db: Raw, workspace_id: uuid.UUID, row: tuple[Any, ...]) -> Customer:
    return view(
        Customer,
        {
            "id": db.uuid_of(row[0]),
            "workspace_id": workspace_id,
            "source_id": row[1],
            "email": row[2],
            "name": row[3],
            "metadata_": db.json_of(row[4]),
            "created_at": db.time_of(row[5]),
            "updated_at": db.time_of(row[6]),
        },
    )


CREATED = "goodwill.customers.created"  # session.info: ids of the customers it created


def created_here(session: AsyncSession, customer_id: uuid.UUID) -> bool:
    """Whether this transaction created the customer. Rows for it may have been written since,
    in the same transaction: a lookup skipped on this must still cope with finding one."""
    return customer_id in session.info.get(CREATED, ())


def lock(db: Raw) -> str:
    """Row locks where there are any (PostgreSQL); SQLite writers are serialized already."""
    return " FOR UPDATE" if db.dialect == "postgresql" else ""


async def locked_by_id(
    session: AsyncSession, workspace_id: uuid.UUID, customer_id: uuid.UUID, *, param: str
) -> Customer:
    """The customer, locked until the transaction ends, or a 404 naming ``param``."""
    db = await raw(session)
    row = await db.one(_BY_ID[lock(db)], workspace_id=workspace_id, id=customer_id)
    return found_by_id(db, workspace_id, customer_id, row, param=param)


def found_by_id(
    db: Raw, workspace_id: uuid.UUID, customer_id: uuid.UUID, row: Row | None, *, param: str
) -> Customer:
    """The customer read by id as ``row``, or a 404 naming ``param``."""
    if row is None:
        raise NotFound(f"No customer {customer_id}", param=param)
    return _customer(db, workspace_id, row)


async def upsert(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    data: CustomerUpsert,
    now: datetime,
    source: str,
) -> tuple[Customer, bool]:
    """Create the customer with ``data.source_id``, or update the fields given; the row stays
    locked until the transaction ends. (row, created).

    It runs on every purchase and event that names a customer, so it reads first (one indexed
    lookup when the customer exists, as it mostly does); the unique constraint still decides a
    race between two first sightings: the insert that loses does nothing and reads the winner.
    """
    db = await raw(session)
    row = await db.one(_BY_SOURCE[lock(db)], workspace_id=workspace_id, source_id=data.source_id)
    return await upsert_found(session, workspace_id, data, row, now=now, source=source)


async def upsert_found(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    data: CustomerUpsert,
    row: Row | None,
    *,
    now: datetime,
    source: str,
) -> tuple[Customer, bool]:
    """:func:`upsert`, given the customer's row as read (and locked) by ``data.source_id``
    (``None``: there was none)."""
    db = await raw(session)
    if row is None:
        customer_id = new_id()
        inserted = await db.one(
            _INSERT,
            id=customer_id,
            workspace_id=workspace_id,
            source_id=data.source_id,
            email=None if data.email is UNSET else data.email,
            name=None if data.name is UNSET else data.name,
            metadata={} if data.metadata is UNSET else data.metadata,
            now=now,
        )
        if inserted is not None:
            session.info.setdefault(CREATED, set()).add(customer_id)
            customer = view(
                Customer,
                {
                    "id": customer_id,
                    "workspace_id": workspace_id,
                    "source_id": data.source_id,
                    "email": None if data.email is UNSET else data.email,
                    "name": None if data.name is UNSET else data.name,
                    "metadata_": {} if data.metadata is UNSET else data.metadata,
                    "created_at": now,
                    "updated_at": now,
                },
            )
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
        row = await db.one(
            _BY_SOURCE[lock(db)], workspace_id=workspace_id, source_id=data.source_id
        )
        assert row is not None  # the insert lost to it
    customer = _customer(db, workspace_id, row)
    email = customer.email if data.email is UNSET else data.email
    name = customer.name if data.name is UNSET else data.name
    metadata = customer.metadata_ if data.metadata is UNSET else data.metadata
    if (email, name, metadata) != (customer.email, customer.name, customer.metadata_):
        await db.run(
            _UPDATE, id=customer.id, email=email, name=name, metadata=metadata, updated_at=now
        )
        customer.email, customer.name, customer.metadata_ = email, name, metadata
        customer.updated_at = now
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
