"""qualifying_purchases: a new purchase's stamps take ids made of its own

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 17:00:00

The unique ``(purchase_id, program_id, stamp_index)`` of stamps was their largest index (about
62 bytes a stamp on PostgreSQL: two 16-byte ids and an index, for each stamp). A new purchase's
stamps now take ids made of the purchase's (``goodwill.loyalty.stamps.stamp_id``: its first 96
bits, and its last 32 advanced by the stamp's ordinal), so the primary key refuses them written
twice; a purchase recorded again (which only the loyalty tests do) reads its stamps under its
card's lock and adds only those it lacks; and a purchase's stamps are found through its
customer's cards. The constraint goes. Stamps written before keep their ids.

The downgrade puts the constraint back; the rows hold to it.
"""

from collections.abc import Sequence

from alembic import op

from goodwill.migrations.sqlite_tables import rebuild

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME = "uq_qualifying_purchases_purchase_id_program_id_stamp_index"
_COLUMNS = ["purchase_id", "program_id", "stamp_index"]
_CONSTRAINT = f"CONSTRAINT {_NAME} UNIQUE ({', '.join(_COLUMNS)})"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        rebuild("qualifying_purchases", drop=[_NAME])
    else:
        op.drop_constraint(_NAME, "qualifying_purchases", type_="unique")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        rebuild("qualifying_purchases", add=[_CONSTRAINT])
    else:
        op.create_unique_constraint(_NAME, "qualifying_purchases", _COLUMNS)
