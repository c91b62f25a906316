"""Cursor pagination, one convention for every list.

``?limit=`` (1-100, default 20) and ``?cursor=`` (opaque, from ``next_cursor``). Lists are newest
first; ids are time-ordered UUIDs, so the cursor is simply the last id seen.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from typing import Annotated, Any, Generic, TypeVar

from litestar.params import QueryParameter
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from goodwill.errors import ValidationFailed
from goodwill.http.schema import Output

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class Page(Output, Generic[T]):
    data: list[T]
    has_more: bool
    next_cursor: str | None
    object: str = "list"


def encode_cursor(value: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(value.bytes).decode().rstrip("=")


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return uuid.UUID(bytes=raw)
    except (ValueError, binascii.Error):
        raise ValidationFailed.single(
            "cursor", "is not a cursor this API returned (use next_cursor from a list)"
        ) from None


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed.single("limit", f"must be between 1 and {MAX_LIMIT}")
    return limit


async def fetch_page(
    session: AsyncSession,
    stmt: Select[R],
    id_column: InstrumentedAttribute[uuid.UUID],
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[R], str | None]:
    """Run ``stmt`` for one page; returns the rows and the cursor of the next page, if any."""
    check_limit(limit)
    if cursor is not None:
        stmt = stmt.where(id_column < decode_cursor(cursor))
    rows = (await session.scalars(stmt.order_by(id_column.desc()).limit(limit + 1))).all()
    if len(rows) > limit:
        rows = rows[:limit]
        last: Any = rows[-1]
        return rows, encode_cursor(getattr(last, id_column.key))
    return rows, None


def page(data: list[T], next_cursor: str | None) -> Page[T]:
    return Page(data=data, has_more=next_cursor is not None, next_cursor=next_cursor)


Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description=f"Page size, 1-{MAX_LIMIT}")]
