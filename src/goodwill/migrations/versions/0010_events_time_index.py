"""events: no (workspace_id, created_at) index

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 09:30:00

The index served one query, an endpoint's recovery of the events since a time, and cost every
event an entry (about 160 bytes of each purchase on SQLite). Event ids are UUIDv7s carrying
the event's time (``goodwill.ids.new_id_at``; ids made before carry the moment they were made,
which is later), so the recovery now finds its candidates through the index on ``id``.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_events_workspace_id_created_at"


def upgrade() -> None:
    op.drop_index(INDEX, table_name="events")


def downgrade() -> None:
    op.create_index(INDEX, "events", ["workspace_id", "created_at"])
