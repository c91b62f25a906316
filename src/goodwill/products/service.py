"""The catalog: products with a unique ``sku`` per workspace."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from msgspec import UNSET
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.db.repository import Repository
from goodwill.db.upsert import insert_or_nothing
from goodwill.errors import Conflict
from goodwill.http.pagination import fetch_page
from goodwill.ids import new_id
from goodwill.money import check_currency, from_minor, to_minor
from goodwill.products.models import Product
from goodwill.products.schemas import ProductCreate, ProductPatch


class ProductRepository(Repository[Product]):
    model = Product
    noun = "product"

    async def by_sku(self, sku: str) -> Product | None:
        return (await self.session.scalars(self.select().where(Product.sku == sku))).first()


async def create(
    session: AsyncSession, workspace_id: uuid.UUID, data: ProductCreate, now: datetime
) -> Product:
    currency = check_currency(data.currency)
    product_id = new_id()
    inserted = await insert_or_nothing(
        session,
        Product.__table__,  # type: ignore[arg-type]
        {
            "id": product_id,
            "workspace_id": workspace_id,
            "sku": data.sku,
            "name": data.name,
            "price_minor": to_minor(data.price, currency, "price"),
            "currency": currency,
            "metadata": data.metadata,
            "active": data.active,
            "created_at": now,
            "updated_at": now,
        },
        ["workspace_id", "sku"],
    )
    if not inserted:
        raise Conflict(f"A product with sku {data.sku!r} already exists", param="sku")
    return await ProductRepository(session, workspace_id).get(product_id)


async def patch(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    product_id: uuid.UUID,
    data: ProductPatch,
    now: datetime,
) -> Product:
    repo = ProductRepository(session, workspace_id)
    product = await repo.get(product_id, for_update=True)
    values: dict[str, object] = {}
    if data.sku is not UNSET and data.sku != product.sku:
        if await repo.by_sku(data.sku) is not None:
            raise Conflict(f"A product with sku {data.sku!r} already exists", param="sku")
        values["sku"] = data.sku
    if data.name is not UNSET:
        values["name"] = data.name
    if data.currency is not UNSET or data.price is not UNSET:
        currency = check_currency(product.currency if data.currency is UNSET else data.currency)
        price = (
            from_minor(product.price_minor, product.currency) if data.price is UNSET else data.price
        )
        values["currency"] = currency
        values["price_minor"] = to_minor(price, currency, "price")
    if data.metadata is not UNSET:
        values["metadata"] = data.metadata
    if data.active is not UNSET:
        values["active"] = data.active
    if values:
        try:
            await session.execute(
                update(Product.__table__)  # type: ignore[arg-type]
                .where(Product.__table__.c.id == product.id)
                .values(**values, updated_at=now)
            )
        except IntegrityError as exc:
            # A concurrent request took the sku after the check: the constraint decides.
            if "sku" not in str(exc.orig):
                raise
            raise Conflict(f"A product with sku {data.sku!r} already exists", param="sku") from None
        await session.refresh(product)
    return product


async def get(session: AsyncSession, workspace_id: uuid.UUID, product_id: uuid.UUID) -> Product:
    return await ProductRepository(session, workspace_id).get(product_id)


async def list_(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    sku: str | None,
    active: bool | None,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Product], str | None]:
    repo = ProductRepository(session, workspace_id)
    stmt = repo.select()
    if sku is not None:
        stmt = stmt.where(Product.sku == sku)
    if active is not None:
        stmt = stmt.where(Product.active.is_(active))
    return await fetch_page(session, stmt, Product.id, limit, cursor)
