"""rewards and purchases: indexes by ids unique across workspaces lose the workspace

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 14:00:00

Referral, purchase, customer and promoter ids are UUIDv7s made by Goodwill, unique across
workspaces, so an index that starts with the workspace before one of them spends an id on
every entry for nothing (16 bytes on both databases; about 100 bytes of each purchase on
SQLite, where a purchase makes 1.4 rewards). The queries keep their workspace condition,
which the rows then satisfy; every query these indexes serve reads the rows anyway (plans
checked with ``EXPLAIN QUERY PLAN`` before and after). Rewards keep ``(workspace_id,
promoter_id, status)`` and purchases their unique ``(workspace_id, external_id)``: those also
find a workspace's rows. Purchases keep ``(workspace_id, customer_id)``: counting a
customer's purchases, which every purchase does, reads that index alone.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table, (the old index, its columns), (the new one, its columns)
CHANGES = [
    (
        "rewards",
        ("ix_rewards_workspace_id_referral_id", ["workspace_id", "referral_id", "rule_id"]),
        ("ix_rewards_referral_id", ["referral_id", "rule_id"]),
    ),
    (
        "rewards",
        ("ix_rewards_workspace_id_purchase_id", ["workspace_id", "purchase_id"]),
        ("ix_rewards_purchase_id", ["purchase_id"]),
    ),
    (
        "rewards",
        ("ix_rewards_workspace_id_customer_id", ["workspace_id", "customer_id"]),
        ("ix_rewards_customer_id", ["customer_id"]),
    ),
    (
        "purchases",
        ("ix_purchases_workspace_id_promoter_id", ["workspace_id", "promoter_id"]),
        ("ix_purchases_promoter_id", ["promoter_id"]),
    ),
]


def upgrade() -> None:
    for table, (old, _), (new, columns) in CHANGES:
        op.create_index(new, table, columns)
        op.drop_index(old, table_name=table)


def downgrade() -> None:
    for table, (old, columns), (new, _) in CHANGES:
        op.create_index(old, table, columns)
        op.drop_index(new, table_name=table)
