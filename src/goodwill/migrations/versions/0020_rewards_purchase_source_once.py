"""rewards: a purchase's reward names its purchase once

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 19:45:00

A reward keeps what granted it as ``source_type`` and ``source_id``, and a purchase's reward
also its ``purchase_id``: the same id twice, about 25 bytes per purchase on SQLite (1.5
rewards). ``source_id`` is now ``NULL`` for a purchase's rewards, whose source is their
``purchase_id`` (``Reward.source``); a lead's, a click's or an event's keep it. Going back,
``source_id`` is the purchase again.

SQLite cannot make a column nullable in place, so its table is rebuilt (SQLite's procedure:
create the new table, copy the rows, drop the old one, rename the new one, recreate its
indexes). Migrations run with foreign keys off on SQLite; ``PRAGMA foreign_key_check`` at the
end proves the ledger's references to rewards still hold.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "rewards"
NOT_NULL, NULLABLE = "source_id BLOB NOT NULL,", "source_id BLOB,"


def _sqlite_rebuild(old: str, new: str) -> None:
    """Rebuild the rewards table with the column declared ``old`` declared ``new``."""
    bind = op.get_bind()
    create = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)
    ).scalar_one()
    indexes = [
        row[0]
        for row in bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            "AND tbl_name = ?",
            (TABLE,),
        )
    ]
    rebuilt = f"{TABLE}__rebuilt"
    body = create.split("(", 1)[1]
    body = " ".join(body.split())
    assert body.count(old) == 1, body
    columns = ", ".join(row[1] for row in bind.exec_driver_sql(f'PRAGMA table_info("{TABLE}")'))
    bind.exec_driver_sql(f'CREATE TABLE "{rebuilt}" ({body.replace(old, new)}')
    bind.exec_driver_sql(
        f'INSERT INTO "{rebuilt}" ({columns}) SELECT {columns} FROM "{TABLE}" ORDER BY rowid'  # noqa: S608 - schema names
    )
    # The ledger's foreign key names rewards, briefly missing: the legacy rename does not
    # check it (SQLite's procedure for changing a table's schema).
    bind.exec_driver_sql("PRAGMA legacy_alter_table = ON")
    try:
        bind.exec_driver_sql(f'DROP TABLE "{TABLE}"')
        bind.exec_driver_sql(f'ALTER TABLE "{rebuilt}" RENAME TO "{TABLE}"')
    finally:
        bind.exec_driver_sql("PRAGMA legacy_alter_table = OFF")
    for index in indexes:
        bind.exec_driver_sql(index)
    broken = bind.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise RuntimeError(f"references broken by rebuilding rewards: {broken[:5]}")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_rebuild(NOT_NULL, NULLABLE)
    else:
        op.alter_column(TABLE, "source_id", nullable=True)
    op.execute(f"UPDATE {TABLE} SET source_id = NULL WHERE source_type = 'purchase'")  # noqa: S608


def downgrade() -> None:
    op.execute(
        f"UPDATE {TABLE} SET source_id = purchase_id "  # noqa: S608 - fixed names
        "WHERE source_type = 'purchase' AND source_id IS NULL"
    )
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_rebuild(NULLABLE, NOT_NULL)
    else:
        op.alter_column(TABLE, "source_id", nullable=False)
