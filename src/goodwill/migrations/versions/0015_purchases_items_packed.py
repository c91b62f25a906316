"""purchases: lines packed, fingerprint as its 32 bytes

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 16:00:00

A purchase's ``items`` were plain JSON, about 73 bytes for one line (``[{"product_id":null,
"item_id":"sku-12","quantity":1,"amount_minor":2345}]``); packed like its explanation
(``goodwill.db.packed``) they take about 35. Its ``fingerprint``, the SHA-256 that tells a
replay of ``external_id`` from another purchase, was 64 hex characters; it is now the
digest's 32 bytes. The rows already stored are converted here, a thousand at a time, both
ways.

``items`` is replaced rather than retyped (SQLite cannot change a column's type in place):
the old column is renamed, the new one added and filled, the old one dropped. The same goes
for ``fingerprint`` on SQLite; PostgreSQL converts it in place (``decode(…, 'hex')``).
SQLite keeps the new columns' ``DEFAULT x''``, which no insert uses.
"""

import json
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
from alembic import op

from goodwill.db.packed import pack, unpack

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 1000
TABLE, KEY = "purchases", "id"


def _decode(text: str) -> Any:
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:  # what only the standard library reads (NaN, say)
        return json.loads(text)


def _replace(column: str, *, new_type: str, old: str, convert: Callable[[Any], Any]) -> None:
    """Replace ``purchases.column`` by a column of ``new_type`` (SQL), filled in id order from
    the old column read as the expression ``old`` (``{}`` is the column) through ``convert``."""
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    op.execute(f"ALTER TABLE {TABLE} RENAME COLUMN {column} TO {column}_old")
    op.execute(f"ALTER TABLE {TABLE} ADD COLUMN {column} {new_type}")
    source, order = old.format(f"{column}_old"), f"ORDER BY {KEY} LIMIT {CHUNK}"
    first = sa.text(f"SELECT {KEY}, {source} FROM {TABLE} {order}")  # noqa: S608 - fixed names
    after = sa.text(f"SELECT {KEY}, {source} FROM {TABLE} WHERE {KEY} > :after {order}")  # noqa: S608
    update = sa.text(f"UPDATE {TABLE} SET {column} = :value WHERE {KEY} = :key")  # noqa: S608
    rows = bind.execute(first).all()
    while rows:
        bind.execute(update, [{"key": k, "value": convert(value)} for k, value in rows])
        rows = bind.execute(after, {"after": rows[-1][0]}).all()
    if postgres:
        op.execute(f"ALTER TABLE {TABLE} ALTER COLUMN {column} DROP DEFAULT")
    op.execute(f"ALTER TABLE {TABLE} DROP COLUMN {column}_old")


def _packed_type() -> str:
    if op.get_bind().dialect.name == "postgresql":
        return "BYTEA NOT NULL DEFAULT '\\x'::bytea"
    return "BLOB NOT NULL DEFAULT x''"


def upgrade() -> None:
    _replace(
        "items",
        new_type=_packed_type(),
        old="CAST({} AS TEXT)",
        convert=lambda text: pack(_decode(text)),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"ALTER TABLE {TABLE} ALTER COLUMN fingerprint TYPE BYTEA "
            "USING decode(fingerprint, 'hex')"
        )
    else:
        _replace("fingerprint", new_type=_packed_type(), old="{}", convert=bytes.fromhex)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    encode = msgspec.json.Encoder(decimal_format="number").encode
    plain = "JSONB NOT NULL DEFAULT '[]'::jsonb" if postgres else "JSON NOT NULL DEFAULT '[]'"
    _replace(
        "items",
        new_type=plain,
        old="{}",
        convert=lambda stored: encode(unpack(bytes(stored))).decode(),
    )
    if postgres:
        op.execute(
            f"ALTER TABLE {TABLE} ALTER COLUMN fingerprint TYPE VARCHAR(64) "
            "USING encode(fingerprint, 'hex')"
        )
    else:
        _replace(
            "fingerprint",
            new_type="VARCHAR(64) NOT NULL DEFAULT ''",
            old="{}",
            convert=lambda stored: bytes(stored).hex(),
        )
