"""events: the events a transaction emits stored in one row

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 13:00:00

A purchase emits about four events. Each was a row with its own key, workspace, time and two
index entries, and a body that, packed alone, could not share the ids the others repeat. The
events a transaction emits for one workspace at one time become one row
(``goodwill.events.models.EventGroup``): ``body`` is a list of ``[type, source, subject,
attributes, data]``, and the ``type`` column goes. An event's id is its row's id plus its slot.

The rows already stored become rows of one event (their ids stay what they were). Deliveries
keep naming events by id, which is no longer always a row's: their foreign key to ``events``
goes (SQLite rebuilds the table for that). Going back, each row becomes a row per event again;
the events after a row's first get new ``seq`` values, after every existing one.
"""

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from goodwill.db.packed import pack, unpack

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 1000
FOREIGN_KEY = "fk_webhook_deliveries_event_id_events"


def _chunks(columns: str) -> Iterator[Sequence[Any]]:
    """Every event row's ``seq, columns``, a chunk at a time in ``seq`` order, up to the last
    ``seq`` there was when it started (rows added on the way are not read)."""
    bind = op.get_bind()
    last = bind.execute(sa.text("SELECT max(seq) FROM events")).scalar()
    select = f"SELECT seq, {columns} FROM events WHERE seq > :after AND seq <= :last"  # noqa: S608
    statement = sa.text(select + f" ORDER BY seq LIMIT {CHUNK}")
    after = 0
    while last is not None:
        rows = bind.execute(statement, {"after": after, "last": last}).all()
        if not rows:
            return
        yield rows
        after = rows[-1][0]


def upgrade() -> None:
    bind = op.get_bind()
    update = sa.text("UPDATE events SET body = :body WHERE seq = :seq")
    for rows in _chunks("type, body"):
        bind.execute(
            update,
            [
                {"seq": seq, "body": pack([[type_, *unpack(bytes(body))]])}
                for seq, type_, body in rows
            ],
        )
    op.execute("ALTER TABLE events DROP COLUMN type")
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_constraint(FOREIGN_KEY, type_="foreignkey")


def downgrade() -> None:
    bind = op.get_bind()
    op.execute("ALTER TABLE events ADD COLUMN type VARCHAR(100) NOT NULL DEFAULT ''")
    update = sa.text("UPDATE events SET type = :type, body = :body WHERE seq = :seq")
    insert = sa.text(
        "INSERT INTO events (id, workspace_id, type, body, txid, created_at) "
        "VALUES (:id, :workspace_id, :type, :body, :txid, :created_at)"
    )
    for rows in _chunks("id, workspace_id, txid, created_at, body"):
        firsts, others = [], []
        for seq, row_id, workspace_id, txid, created_at, body in rows:
            (type_, *rest), *more = unpack(bytes(body))
            firsts.append({"seq": seq, "type": type_, "body": pack(rest)})
            first = row_id if isinstance(row_id, uuid.UUID) else uuid.UUID(bytes=bytes(row_id))
            for slot, (other_type, *other_rest) in enumerate(more, start=1):
                other = uuid.UUID(int=first.int + slot)
                others.append(
                    {
                        "id": other if bind.dialect.name == "postgresql" else other.bytes,
                        "workspace_id": workspace_id,
                        "type": other_type,
                        "body": pack(other_rest),
                        "txid": txid,
                        "created_at": created_at,
                    }
                )
        bind.execute(update, firsts)
        if others:
            bind.execute(insert, others)
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE events ALTER COLUMN type DROP DEFAULT")
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.create_foreign_key(FOREIGN_KEY, "events", ["event_id"], ["id"])
