"""ids as 16 bytes on SQLite

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 06:30:00

SQLAlchemy's ``Uuid`` stores a UUID on SQLite as 32 hex characters; Goodwill's ``Id`` type
stores its 16 bytes as a ``BLOB`` (PostgreSQL's native ``uuid`` is 16 bytes already: nothing
changes there). A purchase holds about a hundred ids across its rows and their indexes, so
this is about 1.4 KB of each on SQLite.

SQLite cannot change a column's type in place, so every table with an id column is rebuilt
(SQLite's documented procedure: create the new table, copy the rows, drop the old one, rename
the new one, recreate its indexes and triggers), each id converted on the way. Migrations run
with foreign keys off on SQLite; ``PRAGMA foreign_key_check`` at the end proves every reference
still holds.
"""

import re
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 2000
TEXT_ID, BINARY_ID = "CHAR(32)", "BLOB"
# The BLOB columns at this revision that are not ids (going back, the rest are).
NOT_IDS = {("events", "data"), ("purchases", "explanation"), ("idempotency_keys", "response_body")}


def _to_bytes(value: Any) -> Any:
    return None if value is None else uuid.UUID(hex=value).bytes


def _to_hex(value: Any) -> Any:
    return None if value is None else uuid.UUID(bytes=bytes(value)).hex


def _rebuild(
    table: str, create: str, id_type: str, new_type: str, convert: Callable[[Any], Any]
) -> None:
    bind = op.get_bind()
    columns = [(row[1], row[2]) for row in bind.exec_driver_sql(f'PRAGMA table_info("{table}")')]
    ids = {
        i
        for i, (name, kind) in enumerate(columns)
        if kind == id_type and (table, name) not in NOT_IDS
    }
    if not ids:
        return
    dependents = [  # what DROP TABLE drops with the table
        row[0]
        for row in bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type IN ('index', 'trigger') AND sql IS NOT NULL "
            "AND tbl_name = ?",
            (table,),
        )
    ]
    new = f"{table}__rebuilt"
    head, body = create.split("(", 1)
    assert re.fullmatch(rf'\s*CREATE TABLE "?{table}"?\s*', head), head
    for i in ids:
        pattern = rf'((?:^|[(,\s])"?{re.escape(columns[i][0])}"?\s+){re.escape(id_type)}(?![\w(])'
        body, found = re.subn(pattern, rf"\g<1>{new_type}", body, count=1)
        assert found == 1, (table, columns[i][0])
    bind.exec_driver_sql(f'CREATE TABLE "{new}" ({body}')
    names = ", ".join(f'"{name}"' for name, _ in columns)
    marks = ", ".join("?" for _ in columns)
    insert = f'INSERT INTO "{new}" ({names}) VALUES ({marks})'  # noqa: S608 - schema names
    after = -(2**63)
    while True:
        rows = bind.exec_driver_sql(
            f'SELECT rowid, {names} FROM "{table}" WHERE rowid > ? ORDER BY rowid LIMIT {CHUNK}',  # noqa: S608
            (after,),
        ).all()
        if not rows:
            break
        bind.exec_driver_sql(
            insert,
            [tuple(convert(v) if i in ids else v for i, v in enumerate(row[1:])) for row in rows],
        )
        after = rows[-1][0]
    rebuilt = [row[2] for row in bind.exec_driver_sql(f'PRAGMA table_info("{new}")')]
    assert rebuilt == [new_type if i in ids else kind for i, (_, kind) in enumerate(columns)]
    bind.exec_driver_sql(f'DROP TABLE "{table}"')
    bind.exec_driver_sql(f'ALTER TABLE "{new}" RENAME TO "{table}"')
    for dependent in dependents:
        bind.exec_driver_sql(dependent)


def _convert(id_type: str, new_type: str, convert: Callable[[Any], Any]) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    tables = bind.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' "
        "AND name NOT LIKE 'sqlite_%' AND name != 'alembic_version' ORDER BY name"
    ).all()
    # The triggers of other tables name the one being rebuilt, which is briefly missing: the
    # legacy rename does not check them (SQLite's procedure for changing a table's schema).
    bind.exec_driver_sql("PRAGMA legacy_alter_table = ON")
    try:
        for table, create in tables:
            _rebuild(table, create, id_type, new_type, convert)
    finally:
        bind.exec_driver_sql("PRAGMA legacy_alter_table = OFF")
    broken = bind.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise RuntimeError(f"references broken by the id conversion: {broken[:5]}")


def upgrade() -> None:
    _convert(TEXT_ID, BINARY_ID, _to_bytes)


def downgrade() -> None:
    _convert(BINARY_ID, TEXT_ID, _to_hex)
