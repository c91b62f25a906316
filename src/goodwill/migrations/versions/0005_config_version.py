"""workspace configuration version

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 12:30:00

``workspaces.config_version`` changes, in the same transaction, whenever a program, a reward
rule or what a webhook endpoint subscribes to changes (triggers, so no write path can forget
it). Each process caches a workspace's programs, active rules and subscriptions under that
value (``goodwill.workspaces.config``). The new value is never reused: a PostgreSQL sequence
(sequences ignore rollbacks) or, on SQLite, a random 63-bit number, so a snapshot read inside a
transaction that later rolled back can never be taken for a committed state.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> the events that change what the workspace's cached configuration holds
WATCHED = {
    "programs": ("INSERT", "UPDATE", "DELETE"),
    "reward_rules": ("INSERT", "UPDATE", "DELETE"),
    "webhook_endpoints": ("INSERT", "UPDATE OF enabled, deleted_at, event_types", "DELETE"),
}


def _name(table: str, event: str) -> str:
    return f"trg_{table}_{event.split(maxsplit=1)[0].lower()}_config_version"


def upgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("config_version", sa.BigInteger(), nullable=False, server_default="0")
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE goodwill_config_version")
        op.execute(
            """
            CREATE FUNCTION goodwill_bump_config_version() RETURNS trigger AS $$
            BEGIN
                IF TG_OP = 'DELETE' THEN
                    UPDATE workspaces SET config_version = nextval('goodwill_config_version')
                    WHERE id = OLD.workspace_id;
                ELSE
                    UPDATE workspaces SET config_version = nextval('goodwill_config_version')
                    WHERE id = NEW.workspace_id;
                END IF;
                RETURN NULL;
            END
            $$ LANGUAGE plpgsql
            """
        )
        for table, events in WATCHED.items():
            for event in events:
                op.execute(
                    f"CREATE TRIGGER {_name(table, event)} AFTER {event} ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION goodwill_bump_config_version()"
                )
        return
    for table, events in WATCHED.items():
        for event in events:
            row = "OLD" if event == "DELETE" else "NEW"
            op.execute(
                f"CREATE TRIGGER {_name(table, event)} AFTER {event} ON {table} BEGIN "  # noqa: S608
                "UPDATE workspaces SET config_version = abs(random()) "
                f"WHERE id = {row}.workspace_id; END"
            )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, events in WATCHED.items():
        for event in events:
            op.execute(
                f"DROP TRIGGER IF EXISTS {_name(table, event)}"
                + (f" ON {table}" if postgres else "")
            )
    if postgres:
        op.execute("DROP FUNCTION goodwill_bump_config_version()")
        op.execute("DROP SEQUENCE goodwill_config_version")
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_column("config_version")
