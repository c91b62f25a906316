"""events: payloads stored compressed

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 06:00:00

An event's ``data`` was JSON text, about 40% of what a purchase stores (four events of 250-850
bytes each). It becomes packed JSON (``goodwill.db.packed``: deflate with a preset dictionary of
Goodwill's payload vocabulary, behind a format byte), about a quarter of the size. Existing
events are packed here, a thousand at a time; their keys keep their order.

The column is replaced rather than retyped (SQLite cannot change a column's type in place): the
old one is renamed, the new one added and filled, the old one dropped. SQLite keeps the new
column's ``DEFAULT x''``, which no insert uses (every event has a payload).
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


def _decode(text: str) -> Any:
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:  # what only the standard library reads (NaN, say)
        return json.loads(text)


def _refill(old: str, convert: Callable[[Any], Any]) -> None:
    """Fill the new ``data`` from the column expression ``old``, in chunks by ``seq``."""
    bind = op.get_bind()
    select = sa.text(
        f"SELECT seq, {old} FROM events WHERE seq > :after "  # noqa: S608 - fixed names
        f"ORDER BY seq LIMIT {CHUNK}"
    )
    update = sa.text("UPDATE events SET data = :data WHERE seq = :seq")
    after = 0
    while True:
        rows = bind.execute(select, {"after": after}).all()
        if not rows:
            return
        bind.execute(update, [{"seq": seq, "data": convert(value)} for seq, value in rows])
        after = rows[-1][0]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute("ALTER TABLE events RENAME COLUMN data TO data_json")
    if postgres:
        op.execute("ALTER TABLE events ADD COLUMN data BYTEA NOT NULL DEFAULT '\\x'::bytea")
    else:
        op.execute("ALTER TABLE events ADD COLUMN data BLOB NOT NULL DEFAULT x''")
    _refill("CAST(data_json AS TEXT)", lambda text: pack(_decode(text)))
    if postgres:
        op.execute("ALTER TABLE events ALTER COLUMN data DROP DEFAULT")
    op.execute("ALTER TABLE events DROP COLUMN data_json")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute("ALTER TABLE events RENAME COLUMN data TO data_packed")
    if postgres:
        op.execute("ALTER TABLE events ADD COLUMN data JSON NOT NULL DEFAULT '{}'::json")
    else:
        op.execute("ALTER TABLE events ADD COLUMN data JSON NOT NULL DEFAULT '{}'")
    encode = msgspec.json.Encoder(decimal_format="number").encode
    _refill("data_packed", lambda stored: encode(unpack(bytes(stored))).decode())
    if postgres:
        op.execute("ALTER TABLE events ALTER COLUMN data DROP DEFAULT")
    op.execute("ALTER TABLE events DROP COLUMN data_packed")
