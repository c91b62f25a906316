"""The declarative base every table hangs from, with a naming convention and shared types."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.sqlite import DATETIME as SQLITE_DATETIME
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from goodwill.clock import from_micros, to_micros
from goodwill.db import packed

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants a BIGINT identity.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class _SQLiteMicros(SQLITE_DATETIME):
    """A ``DATETIME`` column whose values SQLite keeps as integers (microseconds since the
    epoch): 8 bytes instead of 26 characters of text, in the row and in every index on it.
    The conversions are :class:`UTCDateTime`'s; this type only names the column."""

    def bind_processor(self, dialect: Dialect) -> None:
        return None

    def result_processor(self, dialect: Dialect, coltype: object) -> None:
        return None

    def literal_processor(self, dialect: Dialect) -> Any:
        return str


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out: ``timestamptz`` on PostgreSQL, integer microseconds
    since the epoch on SQLite (migration 0009)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return _SQLiteMicros()  # type: ignore[no-untyped-call]
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return to_micros(value)
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, int):
            return from_micros(value)
        stored: datetime = value
        if stored.tzinfo is None:
            return stored.replace(tzinfo=UTC)
        return stored.astimezone(UTC)


class Id(TypeDecorator[uuid.UUID]):
    """UUIDs: native on PostgreSQL; 16 bytes on SQLite (a ``BLOB``), where
    SQLAlchemy's ``Uuid`` keeps 32 hex characters. A purchase stores about a hundred ids across
    its rows and their indexes."""

    impl = Uuid
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(LargeBinary(16))
        return dialect.type_descriptor(Uuid())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        return (value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))).bytes

    def process_result_value(self, value: Any, dialect: Dialect) -> uuid.UUID | None:
        if value is None or dialect.name != "sqlite":
            return value  # type: ignore[no-any-return]
        return uuid.UUID(bytes=bytes(value))


class PackedJSON(TypeDecorator[Any]):
    """JSON stored compressed as bytes (``goodwill.db.packed``): the outbox's payloads."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None or isinstance(value, bytes):  # bytes: packed already, by the caller
            return value
        return packed.pack(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else packed.unpack(value)


def partial_index(name: str, column: str, where: str) -> Index:
    """An index on ``column`` of the rows where ``where`` holds, on both databases."""
    condition = text(where)
    return Index(name, column, sqlite_where=condition, postgresql_where=condition)


def index_of_set(name: str, column: str) -> Index:
    """An index on a column that is often NULL, of the rows where it is set.

    Its queries ask for one value (``column = :x``), which no NULL matches, so both databases
    use it for them; the rows without a value take no space in it (migration 0016).
    """
    return partial_index(name, column, f"{column} IS NOT NULL")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        uuid.UUID: Id(),
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
        list[Any]: JSONType,
    }
