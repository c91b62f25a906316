"""events: on SQLite, the (workspace_id, txid, seq) index holds no rows

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 20:00:00

``events.txid`` is the writing transaction's id, which only PostgreSQL records (its feed holds
back rows of transactions that may still commit below a reader's cursor). On SQLite the column
is always NULL and the feed reads by ``seq`` alone, so the index on it was about 200 bytes of
every purchase spent on nothing. It becomes a partial index there, ``WHERE txid IS NOT NULL``,
which stays empty; PostgreSQL keeps the whole index.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_events_workspace_id_txid_seq"
COLUMNS = ["workspace_id", "txid", "seq"]


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.drop_index(INDEX, table_name="events")
    op.create_index(INDEX, "events", COLUMNS, sqlite_where=sa.text("txid IS NOT NULL"))


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.drop_index(INDEX, table_name="events")
    op.create_index(INDEX, "events", COLUMNS)
