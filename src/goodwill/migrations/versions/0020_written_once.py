"""rewards, purchases, stamps: what a new row would store twice is stored once

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 19:45:00

Per purchase on SQLite, a new row repeated what it already held:

- a purchase's reward kept what granted it as ``source_type = 'purchase'`` and
  ``source_id``, the same id as its ``purchase_id`` (about 37 bytes for 1.5 rewards). Both
  are ``NULL`` for a purchase's rewards now, whose source is their ``purchase_id``
  (``Reward.source``); a lead's, a click's or an event's keep theirs.
- ``updated_at`` of a new reward, purchase or stamp was its ``created_at`` (8 bytes each,
  about 28 a purchase). It is ``NULL`` until the row changes; the API answers
  ``created_at`` for it, as before.

Going back, every one of them is written out again. SQLite cannot make a column nullable in
place, so its three tables are rebuilt (``goodwill.migrations.sqlite_tables``).
"""

from collections.abc import Sequence

from alembic import op

from goodwill.migrations.sqlite_tables import rebuild

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table: [(column, its type on SQLite)], each NOT NULL before
COLUMNS = {
    "rewards": [
        ("source_type", "VARCHAR(16)"),
        ("source_id", "BLOB"),
        ("updated_at", "DATETIME"),
    ],
    "purchases": [("updated_at", "DATETIME")],
    "qualifying_purchases": [("updated_at", "DATETIME")],
}


def _nullable(nullable: bool) -> None:
    for table, columns in COLUMNS.items():
        if op.get_bind().dialect.name == "sqlite":
            declared = {f"{name} {kind} NOT NULL,": f"{name} {kind}," for name, kind in columns}
            rebuild(table, declared if nullable else {v: k for k, v in declared.items()})
        else:
            for name, _ in columns:
                op.alter_column(table, name, nullable=nullable)


def upgrade() -> None:
    _nullable(True)
    op.execute(
        "UPDATE rewards SET source_type = NULL, source_id = NULL WHERE source_type = 'purchase'"
    )
    for table in COLUMNS:
        op.execute(f"UPDATE {table} SET updated_at = NULL WHERE updated_at = created_at")  # noqa: S608


def downgrade() -> None:
    op.execute(
        "UPDATE rewards SET source_type = 'purchase', source_id = purchase_id "
        "WHERE source_type IS NULL"
    )
    for table in COLUMNS:
        op.execute(f"UPDATE {table} SET updated_at = created_at WHERE updated_at IS NULL")  # noqa: S608
    _nullable(False)
