"""ledger_entries: numbered in the order written instead of a UUID each

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 19:30:00

Nothing outside the ledger names an entry: balances sum an account's entries, a reward's
entries are found by ``reward_id``, and no API answer or event carries an entry's id. The
UUID each entry had cost, per purchase on SQLite (1.5 entries), about 25 bytes in the rows
and 43 in the unique index SQLite keeps for a primary key that is not the row's own key. An
``INTEGER PRIMARY KEY`` is that key (the rowid): no index of its own, and the number is
stored once. On PostgreSQL it is a ``bigint`` from a sequence (8 bytes instead of 16, in the
row and in the primary key's index).

The entries stored are numbered in the order they were written (their time, then their
UUIDv7, which is its own time and a counter). Going back, each gets a new UUIDv7 of its time.

SQLite cannot change a primary key in place, so its table is rebuilt (SQLite's procedure:
create the new table, copy the rows, drop the old one, rename the new one, recreate its
indexes). Nothing references a ledger entry, so no other table changes.
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from goodwill.clock import from_micros
from goodwill.ids import new_id_at

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "ledger_entries"
CHUNK = 2000
COLUMNS = (
    "workspace_id, account_type, account_id, unit, bucket, amount_minor, kind, reward_id, "
    "payout_id, refund_id, created_at"
)
INDEXES = (
    ("ix_ledger_entries_reward_id", "reward_id"),
    ("ix_ledger_entries_account_id", "account_id"),
)


def _sqlite_table(name: str, id_column: str) -> str:
    return f"""CREATE TABLE "{name}" (
	{id_column},
	workspace_id BLOB NOT NULL,
	account_type VARCHAR(16) NOT NULL,
	account_id BLOB NOT NULL,
	unit VARCHAR(8) NOT NULL,
	bucket VARCHAR(16) NOT NULL,
	amount_minor BIGINT NOT NULL,
	kind VARCHAR(24) NOT NULL,
	reward_id BLOB,
	payout_id BLOB,
	refund_id BLOB,
	created_at DATETIME NOT NULL,
	CONSTRAINT pk_ledger_entries PRIMARY KEY (id),
	CONSTRAINT fk_ledger_entries_reward_id_rewards FOREIGN KEY(reward_id) REFERENCES rewards (id),
	CONSTRAINT fk_ledger_entries_workspace_id_workspaces FOREIGN KEY(workspace_id) REFERENCES workspaces (id)
)"""


def _sqlite_rebuild(id_column: str, ids: str | None, order: str) -> None:
    """Rebuild the table with ``id_column`` as its key, filled from the column ``ids`` (or
    numbered, with ``None``), its rows copied in ``order``."""
    new = f"{TABLE}__rebuilt"
    op.execute(_sqlite_table(new, id_column))
    into, values = (f"id, {COLUMNS}", f"{ids}, {COLUMNS}") if ids else (COLUMNS, COLUMNS)
    op.execute(f'INSERT INTO "{new}" ({into}) SELECT {values} FROM {TABLE} ORDER BY {order}')  # noqa: S608 - fixed names
    op.execute(f'DROP TABLE "{TABLE}"')
    op.execute(f'ALTER TABLE "{new}" RENAME TO "{TABLE}"')
    for index, column in INDEXES:
        op.execute(f"CREATE INDEX {index} ON {TABLE} ({column})")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _sqlite_rebuild("id INTEGER NOT NULL", None, "created_at, id")
        return
    op.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT pk_ledger_entries")
    op.execute(f"ALTER TABLE {TABLE} RENAME COLUMN id TO uuid_id")
    op.execute(f"ALTER TABLE {TABLE} ADD COLUMN id BIGINT")
    op.execute(
        f"UPDATE {TABLE} e SET id = n.number FROM (SELECT uuid_id, row_number() OVER "  # noqa: S608
        f"(ORDER BY created_at, uuid_id) AS number FROM {TABLE}) n WHERE e.uuid_id = n.uuid_id"
    )
    op.execute(f"CREATE SEQUENCE {TABLE}_id_seq OWNED BY {TABLE}.id")
    start = f"(SELECT COALESCE(max(id), 0) + 1 FROM {TABLE})"  # noqa: S608 - fixed names
    op.execute(f"SELECT setval('{TABLE}_id_seq', {start}, false)")
    op.execute(
        f"ALTER TABLE {TABLE} ALTER COLUMN id SET DEFAULT nextval('{TABLE}_id_seq'), "
        "ALTER COLUMN id SET NOT NULL"
    )
    op.execute(f"ALTER TABLE {TABLE} DROP COLUMN uuid_id")
    op.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT pk_ledger_entries PRIMARY KEY (id)")


def _uuids(bind: sa.Connection, id_column: str, *, sqlite: bool) -> None:
    """Give every entry ``id_column``, a UUIDv7 of its time, increasing in number order
    (entries of one millisecond follow each other)."""
    read = sa.text(
        f"SELECT id, created_at FROM {TABLE} WHERE id > :after ORDER BY id LIMIT {CHUNK}"  # noqa: S608
    )
    write = sa.text(f"UPDATE {TABLE} SET {id_column} = :uuid WHERE id = :id")  # noqa: S608
    after, previous = 0, uuid.UUID(int=0)
    while rows := bind.execute(read, {"after": after}).all():
        values = []
        for number, created in rows:
            made = new_id_at(from_micros(created) if sqlite else created)
            previous = made if made > previous else uuid.UUID(int=previous.int + 1)
            values.append({"id": number, "uuid": previous.bytes if sqlite else previous})
        bind.execute(write, values)
        after = rows[-1][0]


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute(f"ALTER TABLE {TABLE} ADD COLUMN uuid_id BLOB")
        _uuids(bind, "uuid_id", sqlite=True)
        _sqlite_rebuild("id BLOB NOT NULL", "uuid_id", "id")
        return
    op.execute(f"ALTER TABLE {TABLE} ADD COLUMN uuid_id UUID")
    _uuids(bind, "uuid_id", sqlite=False)
    op.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT pk_ledger_entries")
    op.execute(f"ALTER TABLE {TABLE} DROP COLUMN id")
    op.execute(f"ALTER TABLE {TABLE} RENAME COLUMN uuid_id TO id")
    op.execute(f"ALTER TABLE {TABLE} ALTER COLUMN id SET NOT NULL")
    op.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT pk_ledger_entries PRIMARY KEY (id)")
