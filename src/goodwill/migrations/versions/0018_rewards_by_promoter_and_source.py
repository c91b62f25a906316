"""rewards: the promoter's index by promoter alone, and an index of rewards by their source

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 01:00:00

``ix_rewards_promoter_id`` was ``(promoter_id, status)``. Its queries (the promoter's totals,
the per-promoter limits of the rules, the rewards listed by promoter) read each reward's row
anyway: the promoter alone finds them, in entries 8-9 bytes shorter on SQLite.

A lead's and a custom event's rewards were found by reading every reward of the workspace
(``rewards.service.for_sources``: nothing indexed ``source_id``). ``ix_rewards_source_id``
indexes the rewards of those sources only (``source_type <> 'purchase'``): a purchase's
rewards, most of them, are found by ``ix_rewards_purchase_id`` and take no room here.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "rewards"
PROMOTER = "ix_rewards_promoter_id"
SOURCE = "ix_rewards_source_id"


def upgrade() -> None:
    op.drop_index(PROMOTER, table_name=TABLE)
    op.create_index(PROMOTER, TABLE, ["promoter_id"])
    where = sa.text("source_type <> 'purchase'")
    op.create_index(SOURCE, TABLE, ["source_id"], sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    op.drop_index(SOURCE, table_name=TABLE)
    op.drop_index(PROMOTER, table_name=TABLE)
    op.create_index(PROMOTER, TABLE, ["promoter_id", "status"])
