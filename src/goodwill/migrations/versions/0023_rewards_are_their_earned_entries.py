"""ledger_entries: a reward is its own ``earned`` entry

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 09:00:00

Every reward had one ``earned`` row in ``ledger_entries`` that repeated it: its account, unit
and amount, in the bucket it was created in (``approved`` when its hold had ended at its
creation, else ``pending``), none of which ever changes on the reward. Balances now read the
reward itself as that entry (``goodwill.rewards.ledger.entries``), so the rows go. Before
deleting anything the upgrade checks that each reward has exactly one ``earned`` entry and that
it says what the reward says; if one does not, it stops and changes nothing. The downgrade
writes the entries again from the rewards (numbered after the entries that stayed).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACCOUNT_TYPE = "CASE WHEN r.beneficiary = 'referred_customer' THEN 'customer' ELSE 'promoter' END"
_ACCOUNT_ID = (
    "CASE WHEN r.beneficiary = 'referred_customer' THEN r.customer_id ELSE r.promoter_id END"
)
_BUCKET = "CASE WHEN r.hold_until <= r.created_at THEN 'approved' ELSE 'pending' END"

# Rewards whose earned entries are not exactly one that repeats them.
_DIFFERENT = f"""
SELECT count(*) FROM rewards r
WHERE (SELECT count(*) FROM ledger_entries e
       WHERE e.reward_id = r.id AND e.kind = 'earned'
         AND e.workspace_id = r.workspace_id
         AND e.account_type = {_ACCOUNT_TYPE} AND e.account_id = {_ACCOUNT_ID}
         AND e.unit = r.unit AND e.bucket = {_BUCKET} AND e.amount_minor = r.amount_minor
         AND e.created_at = r.created_at
         AND e.payout_id IS NULL AND e.refund_id IS NULL) <> 1
   OR (SELECT count(*) FROM ledger_entries e
       WHERE e.reward_id = r.id AND e.kind = 'earned') <> 1
"""  # noqa: S608 - fixed names, no input
_STRAY = """
SELECT count(*) FROM ledger_entries e
WHERE e.kind = 'earned' AND (e.reward_id IS NULL
                             OR NOT EXISTS (SELECT 1 FROM rewards r WHERE r.id = e.reward_id))
"""


def upgrade() -> None:
    bind = op.get_bind()
    different = bind.execute(sa.text(_DIFFERENT)).scalar_one()
    stray = bind.execute(sa.text(_STRAY)).scalar_one()
    if different or stray:
        raise RuntimeError(
            f"migration 0023 changed nothing: {different} rewards do not have exactly one "
            f"'earned' ledger entry that repeats them, and {stray} 'earned' entries name no "
            "reward; the ledger needs looking at before the rewards can stand for them"
        )
    op.execute("DELETE FROM ledger_entries WHERE kind = 'earned'")


def downgrade() -> None:
    op.execute(
        "INSERT INTO ledger_entries (workspace_id, account_type, account_id, unit, bucket, "  # noqa: S608
        "amount_minor, kind, reward_id, payout_id, refund_id, created_at) "
        f"SELECT r.workspace_id, {_ACCOUNT_TYPE}, {_ACCOUNT_ID}, r.unit, {_BUCKET}, "
        "r.amount_minor, 'earned', r.id, NULL, NULL, r.created_at FROM rewards r "
        "ORDER BY r.created_at, r.id"
    )
