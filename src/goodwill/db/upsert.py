"""Insert-or-nothing, the one way Goodwill makes things idempotent, for SQLite and PostgreSQL.

Uniqueness is decided by a constraint in the database, never by check-then-insert: the insert
either creates the row (and returns it) or does nothing, and the caller reads the row that won.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


async def insert_or_nothing(
    session: AsyncSession,
    table: Table,
    values: dict[str, Any],
    conflict_columns: Sequence[str],
) -> bool:
    """Insert ``values`` unless a row with the same ``conflict_columns`` exists. True if inserted."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=list(conflict_columns))
        .returning(table.c[conflict_columns[0]])
    )
    result = await session.execute(stmt)
    return result.first() is not None
