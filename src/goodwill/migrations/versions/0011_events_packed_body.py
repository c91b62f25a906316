"""events: source, subject, attributes and payload packed together as ``body``

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 12:00:00

An event's source (``urn:POST:/purchases``), subject (an id as 36 characters), context
attributes (ids as JSON) and packed payload were four columns, about 290 bytes a row. They are
only ever read together, so they become one packed value, ``[source, subject, attributes,
data]`` (``goodwill.db.packed``), about 190 bytes: compressed as one, the ids of the subject
and the attributes are found again in the payload, where they repeat. The rows already stored
are rewritten here, a thousand at a time, in both directions; the payloads keep their keys'
order and their numbers every digit.
"""

import json
from collections.abc import Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
from alembic import op

from goodwill.db.packed import pack, unpack

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 1000
_encode = msgspec.json.Encoder(decimal_format="number").encode


def _decode(text: str) -> Any:
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:  # what only the standard library reads (NaN, say)
        return json.loads(text)


def _refill(columns: str, update: str, convert: Any) -> None:
    """Read ``seq, columns`` of every event in ``seq`` order and run ``update`` (its
    parameters named by ``convert``'s dict, plus ``seq``) for each."""
    bind = op.get_bind()
    order = f"ORDER BY seq LIMIT {CHUNK}"
    first = sa.text(f"SELECT seq, {columns} FROM events {order}")  # noqa: S608 - fixed names
    after = sa.text(f"SELECT seq, {columns} FROM events WHERE seq > :after {order}")  # noqa: S608
    statement = sa.text(update)
    rows = bind.execute(first).all()
    while rows:
        bind.execute(statement, [{"seq": row[0], **convert(*row[1:])} for row in rows])
        rows = bind.execute(after, {"after": rows[-1][0]}).all()


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    packed = "BYTEA NOT NULL DEFAULT '\\x'::bytea" if postgres else "BLOB NOT NULL DEFAULT x''"
    op.execute(f"ALTER TABLE events ADD COLUMN body {packed}")
    _refill(
        "source, subject, CAST(attributes AS TEXT), data",
        "UPDATE events SET body = :body WHERE seq = :seq",
        lambda source, subject, attributes, data: {
            "body": pack([source, subject, _decode(attributes), unpack(bytes(data))])
        },
    )
    if postgres:
        op.execute("ALTER TABLE events ALTER COLUMN body DROP DEFAULT")
    for column in ("source", "subject", "attributes", "data"):
        op.execute(f"ALTER TABLE events DROP COLUMN {column}")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    blob = "BYTEA NOT NULL DEFAULT '\\x'::bytea" if postgres else "BLOB NOT NULL DEFAULT x''"
    columns = {
        "source": "VARCHAR(200) NOT NULL DEFAULT ''",
        "subject": "VARCHAR(100) NOT NULL DEFAULT ''",
        "attributes": "JSON NOT NULL DEFAULT '{}'",
        "data": blob,
    }
    for column, definition in columns.items():
        op.execute(f"ALTER TABLE events ADD COLUMN {column} {definition}")

    def split(body: bytes) -> dict[str, Any]:
        source, subject, attributes, data = unpack(bytes(body))
        return {
            "source": source,
            "subject": subject,
            "attributes": _encode(attributes).decode(),
            "data": pack(data),
        }

    attributes = "CAST(:attributes AS JSON)" if postgres else ":attributes"
    update = "UPDATE events SET source = :source, subject = :subject, attributes = {}, data = :data"
    _refill("body", update.format(attributes) + " WHERE seq = :seq", split)
    if postgres:
        for column in columns:
            op.execute(f"ALTER TABLE events ALTER COLUMN {column} DROP DEFAULT")
    op.execute("ALTER TABLE events DROP COLUMN body")
