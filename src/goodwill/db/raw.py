"""Hand-written SQL on the session's own connection, for the paths that run on every request.

SQLAlchemy costs 30-120 µs of Python per statement on this stack (building the statement, its
cache key, the execution context, the result), while SQLite itself answers an indexed lookup in
1-5 µs. The ingest paths (authentication, purchases, clicks, custom events, the outbox) therefore
write their statements once, in SQL with ``:name`` parameters, and run them straight on the
driver connection underneath the caller's session: the same connection and the same transaction,
so they commit or roll back with everything else the request did.

    BY_CODE = Sql("SELECT id, promoter_id FROM referral_links WHERE code = :code")
    row = await (await raw(session)).one(BY_CODE, code="grace")

Values go in as Python values and come back as the driver gives them; :class:`Raw` knows how
each dialect stores Goodwill's column types (SQLite: UUIDs as 16 bytes, UTC times as naive
``YYYY-MM-DD HH:MM:SS.ffffff`` text, JSON as text; PostgreSQL: native types; packed JSON as
bytes on both), exactly as the ORM models store them, so rows written either way read the
same either way.
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar

import asyncpg
import msgspec
from sqlalchemy import JSON, Boolean, Table, Uuid
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import configure_mappers

from goodwill.clock import from_micros, to_micros
from goodwill.db.packed import json_bytes, unpack

_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_json_decode = msgspec.json.decode
_INFO_KEY = "goodwill.raw"

Row = tuple[Any, ...]
M = TypeVar("M")


class Sql:
    """One statement with ``:name`` parameters, turned into each dialect's form once."""

    __slots__ = ("_forms", "text")

    def __init__(self, text: str) -> None:
        self.text = " ".join(text.split())
        self._forms: dict[str, tuple[str, tuple[str, ...]]] = {}

    def form(self, dialect: str) -> tuple[str, tuple[str, ...]]:
        found = self._forms.get(dialect)
        if found is None:
            names: list[str] = []

            def place(match: re.Match[str]) -> str:
                names.append(match.group(1))
                return "?" if dialect == "sqlite" else f"${len(names)}"

            sql = _PARAM.sub(place, self.text)
            found = self._forms[dialect] = (sql, tuple(names))
        return found

    def __repr__(self) -> str:
        return f"Sql({self.text!r})"


def json_text(value: Any) -> str:
    """JSON for a JSON column: decimals as exact numbers, never through a float."""
    return json_bytes(value).decode()


class Raw:
    """Statements on one session's driver connection. Get it with :func:`raw`."""

    dialect: str

    def bind(self, value: Any) -> Any:
        raise NotImplementedError

    async def one(self, sql: Sql, **params: Any) -> Row | None:
        raise NotImplementedError

    async def all(self, sql: Sql, **params: Any) -> list[Row]:
        raise NotImplementedError

    async def run(self, sql: Sql, **params: Any) -> None:
        raise NotImplementedError

    async def changed(self, sql: Sql, **params: Any) -> int:
        """Run a write; how many rows it inserted, updated or deleted."""
        raise NotImplementedError

    async def insert(self, *parts: tuple[Sql, Sequence[Mapping[str, Any]]]) -> None:
        """Insert each part's rows: ``(INSERT … VALUES (:a, :b) statement, rows)``. On
        PostgreSQL every part goes in one statement, one round trip (see :func:`together`)."""
        raise NotImplementedError

    def sqlite_connection(self) -> Any:
        """The sqlite3 connection underneath (SQLite only)."""
        raise TypeError(f"not a SQLite connection: {self.dialect}")

    async def scalar(self, sql: Sql, **params: Any) -> Any:
        row = await self.one(sql, **params)
        return None if row is None else row[0]

    # Reading values back, whatever the dialect stored.

    @staticmethod
    def uuid_of(value: Any) -> uuid.UUID:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(bytes=value)

    @staticmethod
    def uuid_or_none(value: Any) -> uuid.UUID | None:
        if value is None:
            return None
        return value if isinstance(value, uuid.UUID) else uuid.UUID(bytes=value)

    @staticmethod
    def time_of(value: Any) -> datetime:
        if isinstance(value, datetime):
            if value.tzinfo is None:
                # asyncpg answers PostgreSQL's -infinity and infinity, which it writes for
                # 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z, as naive datetimes.
                return value.replace(tzinfo=UTC)
            return value if value.tzinfo is UTC else value.astimezone(UTC)
        return from_micros(value)  # SQLite: microseconds since the epoch

    @staticmethod
    def time_or_none(value: Any) -> datetime | None:
        if value is None:
            return None
        return Raw.time_of(value)

    @staticmethod
    def json_of(value: Any) -> Any:
        return _json_decode(value) if isinstance(value, str | bytes) else value


def _sqlite_time(value: datetime) -> int:
    return to_micros(value)


_SQLITE_PLAIN = frozenset({str, int, type(None), bool, float, bytes})


def _uuid_bytes(value: uuid.UUID) -> bytes:
    return value.bytes


# A write binds the same few values many times (the workspace id in every row, a new purchase's
# id in its rewards, ledger entries and events, the request's time in all of them), and turning
# one into its stored form costs up to 1-2 µs of Python: the forms are remembered. Equal UUIDs
# have one 16-byte form; equal aware datetimes are one instant, so one integer (a naive one
# raises, and is not kept).
_SQLITE_BY_TYPE: dict[type, Any] = {
    uuid.UUID: lru_cache(maxsize=4096)(_uuid_bytes),
    datetime: lru_cache(maxsize=1024)(_sqlite_time),
    dict: json_text,
    list: json_text,
}


def _sqlite_value(value: Any) -> Any:
    kind = type(value)
    if kind in _SQLITE_PLAIN:
        return value
    convert = _SQLITE_BY_TYPE.get(kind)
    if convert is not None:
        return convert(value)
    if isinstance(value, uuid.UUID):
        return value.bytes
    if isinstance(value, datetime):
        return _sqlite_time(value)
    if isinstance(value, dict | list):
        return json_text(value)
    return value


def _pg_value(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json_text(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value


class _SQLiteRaw(Raw):
    dialect = "sqlite"

    def __init__(self, connection: Any) -> None:
        self._conn = connection  # the sqlite3.Connection under goodwill.db.sqlite_inline

    def sqlite_connection(self) -> Any:
        return self._conn

    def bind(self, value: Any) -> Any:
        return _sqlite_value(value)

    def _args(self, sql: Sql, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        text, names = sql.form("sqlite")
        return text, [_sqlite_value(params[n]) for n in names]

    async def one(self, sql: Sql, **params: Any) -> Row | None:
        text, args = self._args(sql, params)
        row: Row | None = self._conn.execute(text, args).fetchone()
        return row

    async def all(self, sql: Sql, **params: Any) -> list[Row]:
        text, args = self._args(sql, params)
        rows: list[Row] = self._conn.execute(text, args).fetchall()
        return rows

    async def run(self, sql: Sql, **params: Any) -> None:
        text, args = self._args(sql, params)
        self._conn.execute(text, args)

    async def changed(self, sql: Sql, **params: Any) -> int:
        text, args = self._args(sql, params)
        count: int = self._conn.execute(text, args).rowcount
        return count

    async def insert(self, *parts: tuple[Sql, Sequence[Mapping[str, Any]]]) -> None:
        for sql, rows in parts:
            if rows:
                text, names = sql.form("sqlite")
                self._conn.executemany(text, [[_sqlite_value(r[n]) for n in names] for r in rows])


class _PostgresRaw(Raw):
    dialect = "postgresql"

    def __init__(self, adapted: Any, *, autocommit: bool = False) -> None:
        self._adapted = adapted  # SQLAlchemy's AsyncAdapt_asyncpg_connection
        self._conn = adapted._connection  # the asyncpg.Connection
        self._autocommit = autocommit

    def bind(self, value: Any) -> Any:
        return _pg_value(value)

    async def _begun(self) -> None:
        # SQLAlchemy's asyncpg adapter starts its transaction lazily, on its own first
        # statement; a raw statement must not run before it, outside the transaction.
        if self._adapted._transaction is None and not self._autocommit:
            await self._adapted._start_transaction()

    def _args(self, sql: Sql, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        text, names = sql.form("postgresql")
        return text, [_pg_value(params[n]) for n in names]

    async def one(self, sql: Sql, **params: Any) -> Row | None:
        await self._begun()
        text, args = self._args(sql, params)
        record = await self._conn.fetchrow(text, *args)
        return None if record is None else tuple(record)

    async def all(self, sql: Sql, **params: Any) -> list[Row]:
        await self._begun()
        text, args = self._args(sql, params)
        return [tuple(r) for r in await self._conn.fetch(text, *args)]

    async def run(self, sql: Sql, **params: Any) -> None:
        await self._begun()
        text, args = self._args(sql, params)
        await self._conn.execute(text, *args)

    async def changed(self, sql: Sql, **params: Any) -> int:
        await self._begun()
        text, args = self._args(sql, params)
        status: str = await self._conn.execute(text, *args)  # e.g. "INSERT 0 1"
        return int(status.rpartition(" ")[2])

    async def insert(self, *parts: tuple[Sql, Sequence[Mapping[str, Any]]]) -> None:
        shape = tuple((sql, len(rows)) for sql, rows in parts if rows)
        if not shape:
            return
        await self._begun()
        if sum(len(sql.form("postgresql")[1]) * n for sql, n in shape) > _PG_MAX_PARAMETERS:
            for sql, rows in parts:  # a bulk write: a statement per row, pipelined by asyncpg
                if rows:
                    text, names = sql.form("postgresql")
                    await self._conn.executemany(
                        text, [[_pg_value(r[n]) for n in names] for r in rows]
                    )
            return
        args = [
            _pg_value(row[n])
            for sql, rows in parts
            for names in (sql.form("postgresql")[1],)
            for row in rows
            for n in names
        ]
        await self._conn.execute(together(shape), *args)


_PG_MAX_PARAMETERS = 32_767  # the wire protocol counts a statement's parameters in 16 bits


@lru_cache(maxsize=256)
def together(shape: tuple[tuple[Sql, int], ...]) -> str:
    """One PostgreSQL statement inserting ``count`` rows with each ``INSERT … VALUES (…)``:
    multi-row ``VALUES``, and the parts before the last in a ``WITH`` (data-modifying
    statements there all run; foreign keys are checked at the end of the whole statement, so a
    part may reference rows of another). Parameters are ``$1…`` in the order of the parts, their
    rows, and each statement's own parameters."""
    statements = []
    number = 0

    def place(_: re.Match[str]) -> str:
        nonlocal number
        number += 1
        return f"${number}"

    for sql, count in shape:
        head, row, tail = _values(sql.text)
        statements.append(f"{head} {', '.join(_PARAM.sub(place, row) for _ in range(count))}{tail}")
    *first, last = statements
    if not first:
        return last
    return "WITH " + ", ".join(f"w{i} AS ({s})" for i, s in enumerate(first)) + " " + last


def _values(text: str) -> tuple[str, str, str]:
    """``INSERT … VALUES (row) tail`` as its three pieces."""
    start = text.find(" VALUES (")
    if not text.startswith("INSERT ") or start < 0:
        raise ValueError(f"not an INSERT … VALUES statement: {text!r}")  # noqa: S608 - a message
    open_at = start + len(" VALUES ")
    depth = 0
    for i in range(open_at, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return text[:open_at].rstrip(), text[open_at : i + 1], text[i + 1 :]
    raise ValueError(f"unbalanced VALUES in {text!r}")


async def raw(session: AsyncSession) -> Raw:
    """The session's connection for hand-written SQL, inside the session's transaction."""
    found: Raw | None = session.info.get(_INFO_KEY)
    if found is None:
        connection = await session.connection()
        fairy = await connection.get_raw_connection()
        if connection.dialect.name == "sqlite":
            found = _SQLiteRaw(fairy.driver_connection._conn)  # type: ignore[union-attr]
        else:
            found = _PostgresRaw(fairy.dbapi_connection)
        session.info[_INFO_KEY] = found
    return found


async def raw_reads(connection: AsyncConnection) -> Raw:
    """A pooled connection for single-statement reads outside any transaction (each statement
    sees what is committed when it runs): no ``BEGIN``, no ``ROLLBACK``."""
    fairy = await connection.get_raw_connection()
    if connection.dialect.name == "sqlite":
        return _SQLiteRaw(fairy.driver_connection._conn)  # type: ignore[union-attr]
    return _PostgresRaw(fairy.dbapi_connection, autocommit=True)


def adopt(session: AsyncSession, db: Raw) -> None:
    """Give a session the raw connection its transaction runs on (the caller knows it)."""
    session.info[_INFO_KEY] = db


def forget(session: AsyncSession) -> None:
    """Drop the cached connection (the session is done with its transaction)."""
    session.info.pop(_INFO_KEY, None)


def insert_into(table: Table, *, on_conflict: Sequence[str] | None = None) -> Sql:
    """``INSERT INTO table (every column) VALUES (:every column)``, optionally doing nothing on
    a conflict over ``on_conflict`` (then ``RETURNING`` the first of those columns, so a caller
    can tell whether the row was written)."""
    names = [c.name for c in table.columns if not (c.primary_key and c.autoincrement is True)]
    columns = ", ".join(f'"{n}"' for n in names)
    values = ", ".join(f":{n}" for n in names)
    text = f'INSERT INTO "{table.name}" ({columns}) VALUES ({values})'  # noqa: S608 - schema names
    if on_conflict:
        keys = ", ".join(f'"{n}"' for n in on_conflict)
        text += f' ON CONFLICT ({keys}) DO NOTHING RETURNING "{on_conflict[0]}"'
    return Sql(text)


def breaks_unique(exc: BaseException, table: str, *columns: str) -> bool:
    """Whether ``exc`` is a hand-written statement's breach of ``table``'s unique constraint
    over ``columns`` (as the driver raised it: ``sqlite3.IntegrityError`` names the columns,
    asyncpg's ``UniqueViolationError`` the constraint, named by Goodwill's convention)."""
    if isinstance(exc, sqlite3.IntegrityError):
        names = ", ".join(f"{table}.{c}" for c in columns)
        return str(exc) == f"UNIQUE constraint failed: {names}"
    if isinstance(exc, asyncpg.UniqueViolationError):
        return bool(exc.constraint_name == f"uq_{table}_{'_'.join(columns)}")
    return False


class Columns:
    """Every mapped column of an ORM model, to read whole rows with hand-written SQL:

    PURCHASE = Columns(Purchase)
    row = await db.one(Sql(f"SELECT {PURCHASE.names} FROM purchases WHERE id = :id"), id=i)
    purchase = PURCHASE.instance(db, row)   # a transient Purchase, as the ORM would load it
    """

    def __init__(self, model: type[Any], prefix: str = "") -> None:
        self.model = model
        attributes = sa_inspect(model).column_attrs
        self._keys = [a.key for a in attributes]
        self._columns = [a.columns[0] for a in attributes]
        self.names = ", ".join(f'{prefix}"{c.name}"' for c in self._columns)
        self._readers: list[Any] | None = None

    def values(self, db: Raw, row: Sequence[Any]) -> dict[str, Any]:
        if self._readers is None:  # foreign key columns know their type once every model is
            self._readers = [_reader(c.type) for c in self._columns]
        return {
            key: value if value is None or read is None else read(value)
            for key, read, value in zip(self._keys, self._readers, row, strict=True)
        }

    def instance(self, db: Raw, row: Sequence[Any]) -> Any:
        return view(self.model, self.values(db, row))


def _reader(kind: Any) -> Any:
    from goodwill.db.base import Id, PackedJSON, UTCDateTime  # the base imports nothing from here

    if isinstance(kind, Id | Uuid):
        return Raw.uuid_of
    if isinstance(kind, UTCDateTime):
        return Raw.time_of
    if isinstance(kind, JSON):
        return Raw.json_of
    if isinstance(kind, PackedJSON):
        return unpack
    if isinstance(kind, Boolean):
        return bool
    return None


_mappers_ready = False


def view(model: type[M], values: Mapping[str, Any]) -> M:
    """A transient instance of ``model`` holding ``values`` (attribute names), to read: for
    answers and events. Built without the ORM's per-attribute bookkeeping (about 1 µs against
    30 µs for ``model(**values)``); it must never be added to a session."""
    global _mappers_ready  # noqa: PLW0603 - configured once, on first use
    if not _mappers_ready:
        configure_mappers()
        _mappers_ready = True
    instance: M = model._sa_class_manager.new_instance()  # type: ignore[attr-defined]
    instance.__dict__.update(values)
    return instance
