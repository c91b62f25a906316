"""rewards: the referral's index by referral alone, the hold period's of pending rewards only

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 19:00:00

``ix_rewards_referral_id`` was ``(referral_id, rule_id)``. Its one query with a rule, the
count of a referral's rewards per rule for the rules with a per-referral limit, reads each
reward's status from its row anyway, and a referral has a handful of rewards: the referral
alone finds them. Its entries spend 16 bytes less, and rewards without a referral have none
(``WHERE referral_id IS NOT NULL``, as in migration 0016).

``ix_rewards_status_hold_until`` held every reward under its status; its one reader, the job
that approves rewards whose hold period has ended, asks for pending ones only. The new
``ix_rewards_pending_hold_until`` holds the pending rewards by ``hold_until``: a reward leaves
it when it is approved or voided, and its entries are 8 bytes shorter while it is pending. The
job reads them in its order, the longest due first (in the order of ids, as it did, SQLite
would rather read every reward by its key than use a partial index).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "rewards"
REFERRAL = "ix_rewards_referral_id"
OLD_HOLD, NEW_HOLD = "ix_rewards_status_hold_until", "ix_rewards_pending_hold_until"


def _partial(name: str, column: str, condition: str) -> None:
    where = sa.text(condition)
    op.create_index(name, TABLE, [column], sqlite_where=where, postgresql_where=where)


def upgrade() -> None:
    op.drop_index(REFERRAL, table_name=TABLE)
    _partial(REFERRAL, "referral_id", "referral_id IS NOT NULL")
    _partial(NEW_HOLD, "hold_until", "status = 'pending'")
    op.drop_index(OLD_HOLD, table_name=TABLE)


def downgrade() -> None:
    op.create_index(OLD_HOLD, TABLE, ["status", "hold_until"])
    op.drop_index(NEW_HOLD, table_name=TABLE)
    op.drop_index(REFERRAL, table_name=TABLE)
    op.create_index(REFERRAL, TABLE, ["referral_id", "rule_id"])
