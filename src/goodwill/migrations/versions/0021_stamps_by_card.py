"""qualifying_purchases: a card's stamps indexed by the card alone

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 20:40:00

``ix_qualifying_purchases_card_id_status`` was ``(card_id, status)``. Its two queries (a
card's stamps counted by status, and the ones a redemption may take) read one card's
stamps, which are few: the card alone finds them, in entries 7-9 bytes shorter on SQLite
(every purchase in a stamps program makes one).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "qualifying_purchases"


def upgrade() -> None:
    op.drop_index("ix_qualifying_purchases_card_id_status", table_name=TABLE)
    op.create_index("ix_qualifying_purchases_card_id", TABLE, ["card_id"])


def downgrade() -> None:
    op.drop_index("ix_qualifying_purchases_card_id", table_name=TABLE)
    op.create_index("ix_qualifying_purchases_card_id_status", TABLE, ["card_id", "status"])
