"""indexes by ids unique across workspaces lose the workspace: the rest of the hot tables

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 15:00:00

Revision 0013 did this for rewards by referral, purchase and customer and for purchases by
promoter; this one does it for every other index that starts with the workspace before an id
Goodwill made (a UUIDv7, unique across workspaces): purchases by customer, rewards by
promoter, ledger entries by account, referrals by promoter, clicks by link and by promoter,
leads by customer and by promoter, points entries by purchase. Each entry spends 16 bytes
less (the ledger's 16 more: the account id alone finds an account, whose type the rows
say). The queries keep their workspace conditions, which the rows then satisfy; counting a
customer's purchases, which every purchase does, asks by customer alone and still reads the
index alone.

Qualifying purchases had two indexes by purchase: the unique ``(program_id, purchase_id,
stamp_index)`` and ``(workspace_id, purchase_id)`` for a purchase's stamps in every program.
The unique one now starts with the purchase and serves both: about 47 bytes of each stamp on
SQLite. SQLite cannot change a table's constraint in place, so that table is rebuilt there
(Alembic's batch mode: a copy under the new definition); PostgreSQL swaps the constraint.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table, (the old index, its columns), (the new one, its columns)
CHANGES = [
    (
        "purchases",
        ("ix_purchases_workspace_id_customer_id", ["workspace_id", "customer_id"]),
        ("ix_purchases_customer_id", ["customer_id"]),
    ),
    (
        "rewards",
        ("ix_rewards_workspace_id_promoter_id", ["workspace_id", "promoter_id", "status"]),
        ("ix_rewards_promoter_id", ["promoter_id", "status"]),
    ),
    (
        "ledger_entries",
        (
            "ix_ledger_entries_workspace_id_account",
            ["workspace_id", "account_type", "account_id"],
        ),
        ("ix_ledger_entries_account_id", ["account_id"]),
    ),
    (
        "referrals",
        ("ix_referrals_workspace_id_promoter_id", ["workspace_id", "promoter_id"]),
        ("ix_referrals_promoter_id", ["promoter_id"]),
    ),
    (
        "clicks",
        ("ix_clicks_workspace_id_link_id", ["workspace_id", "link_id"]),
        ("ix_clicks_link_id", ["link_id"]),
    ),
    (
        "clicks",
        ("ix_clicks_workspace_id_promoter_id", ["workspace_id", "promoter_id"]),
        ("ix_clicks_promoter_id", ["promoter_id"]),
    ),
    (
        "leads",
        ("ix_leads_workspace_id_customer_id", ["workspace_id", "customer_id"]),
        ("ix_leads_customer_id", ["customer_id"]),
    ),
    (
        "leads",
        ("ix_leads_workspace_id_promoter_id", ["workspace_id", "promoter_id"]),
        ("ix_leads_promoter_id", ["promoter_id"]),
    ),
    (
        "points_entries",
        ("ix_points_entries_workspace_id_purchase_id", ["workspace_id", "purchase_id"]),
        ("ix_points_entries_purchase_id", ["purchase_id"]),
    ),
]

STAMPS = "qualifying_purchases"
STAMPS_BY_PURCHASE = (
    "ix_qualifying_purchases_workspace_id_purchase_id",
    ["workspace_id", "purchase_id"],
)
OLD_UNIQUE = (
    "uq_qualifying_purchases_program_id_purchase_id_stamp_index",
    ["program_id", "purchase_id", "stamp_index"],
)
NEW_UNIQUE = (
    "uq_qualifying_purchases_purchase_id_program_id_stamp_index",
    ["purchase_id", "program_id", "stamp_index"],
)


def _swap_unique(old: tuple[str, list[str]], new: tuple[str, list[str]]) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table(STAMPS, recreate="always" if sqlite else "auto") as batch:
        batch.drop_constraint(old[0], type_="unique")
        batch.create_unique_constraint(new[0], new[1])


def upgrade() -> None:
    for table, (old, _), (new, columns) in CHANGES:
        op.create_index(new, table, columns)
        op.drop_index(old, table_name=table)
    op.drop_index(STAMPS_BY_PURCHASE[0], table_name=STAMPS)
    _swap_unique(OLD_UNIQUE, NEW_UNIQUE)


def downgrade() -> None:
    _swap_unique(NEW_UNIQUE, OLD_UNIQUE)
    op.create_index(STAMPS_BY_PURCHASE[0], STAMPS, STAMPS_BY_PURCHASE[1])
    for table, (old, columns), (new, _) in CHANGES:
        op.create_index(old, table, columns)
        op.drop_index(new, table_name=table)
