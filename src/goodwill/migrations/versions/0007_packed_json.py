"""events' payloads and purchases' explanations stored compressed

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 06:00:00

An event's ``data`` and a purchase's ``explanation`` were JSON, about 60% of what a purchase
stores (four events of 250-850 bytes each, an explanation of about 650). They become packed
JSON (``goodwill.db.packed``: deflate with a preset dictionary of Goodwill's vocabulary,
behind a format byte), a quarter to a third of the size. The rows already stored are packed
here, a thousand at a time; their keys keep their order, their numbers every digit.

Each column is replaced rather than retyped (SQLite cannot change a column's type in place):
the old one is renamed, the new one added and filled, the old one dropped. SQLite keeps the
new column's ``DEFAULT x''``, which no insert uses.
"""

import json
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
from alembic import op

from goodwill.db.packed import pack, unpack

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 1000
# table, its key (rows are refilled in its order), the column, its JSON type on PostgreSQL
COLUMNS = [("events", "seq", "data", "JSON"), ("purchases", "id", "explanation", "JSONB")]


def _decode(text: str) -> Any:
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:  # what only the standard library reads (NaN, say)
        return json.loads(text)


def _replace(
    table: str, key: str, column: str, *, new_type: str, old: str, convert: Callable[[Any], Any]
) -> None:
    """Replace ``table.column`` by a column of ``new_type`` (SQL), filled in ``key`` order from
    the old column read as the expression ``old`` (``{}`` is the column) through ``convert``."""
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    op.execute(f"ALTER TABLE {table} RENAME COLUMN {column} TO {column}_old")
    op.execute(f"ALTER TABLE {table} ADD COLUMN {column} {new_type}")
    source, order = old.format(f"{column}_old"), f"ORDER BY {key} LIMIT {CHUNK}"
    first = sa.text(f"SELECT {key}, {source} FROM {table} {order}")  # noqa: S608 - fixed names
    after = sa.text(f"SELECT {key}, {source} FROM {table} WHERE {key} > :after {order}")  # noqa: S608
    update = sa.text(f"UPDATE {table} SET {column} = :value WHERE {key} = :key")  # noqa: S608
    rows = bind.execute(first).all()
    while rows:
        bind.execute(update, [{"key": k, "value": convert(value)} for k, value in rows])
        rows = bind.execute(after, {"after": rows[-1][0]}).all()
    if postgres:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} DROP DEFAULT")
    op.execute(f"ALTER TABLE {table} DROP COLUMN {column}_old")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    packed = "BYTEA NOT NULL DEFAULT '\\x'::bytea" if postgres else "BLOB NOT NULL DEFAULT x''"
    for table, key, column, _ in COLUMNS:
        _replace(
            table,
            key,
            column,
            new_type=packed,
            old="CAST({} AS TEXT)",
            convert=lambda text: pack(_decode(text)),
        )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    encode = msgspec.json.Encoder(decimal_format="number").encode
    for table, key, column, pg_type in COLUMNS:
        plain = (
            f"{pg_type} NOT NULL DEFAULT '{{}}'::{pg_type}"
            if postgres
            else "JSON NOT NULL DEFAULT '{}'"
        )
        _replace(
            table,
            key,
            column,
            new_type=plain,
            old="{}",
            convert=lambda stored: encode(unpack(bytes(stored))).decode(),
        )
