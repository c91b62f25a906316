"""events: on PostgreSQL, the (workspace_id, seq) index holds no rows

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 22:40:00

The mirror of 0006. On PostgreSQL every event row records its writing transaction's id
(``txid``), and the feed reads by ``(workspace_id, txid, seq)``; nothing there reads by
``(workspace_id, seq)``, which only SQLite's feed needs (SQLite never records ``txid``). So on
PostgreSQL the index becomes partial, ``WHERE txid IS NULL``, and stays empty: about 40 bytes
and a write-ahead log record fewer per event row. SQLite keeps the whole index.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_events_workspace_id_seq"
COLUMNS = ["workspace_id", "seq"]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(INDEX, table_name="events")
    op.create_index(INDEX, "events", COLUMNS, postgresql_where=sa.text("txid IS NULL"))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(INDEX, table_name="events")
    op.create_index(INDEX, "events", COLUMNS)
