"""rule_sets: a program's active rules, written once, named by their digest

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 10:00:00

A purchase's explanation names the set of rules it was decided with instead of repeating each
rule's id and name (``goodwill.rules.sets``). The table holds each set once; this migration
records the set of every program's active rules as they are now, so an install's next
purchases are explained that way without waiting for a rule to change. Explanations stored
before keep their ids and names and read as they did.

A set's id is the first 63 bits of the SHA-256 of ``[program id, [[rule id, name], …]]`` as
compact JSON (msgspec's encoding, as ``goodwill.rules.sets.digest``; written here again,
since a migration does not change when the code does).
"""

import hashlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import goodwill.db.base

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")


def _digest(program_id: uuid.UUID, rules: list[list[str]]) -> int:
    text = msgspec.json.encode([str(program_id), rules])
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big") >> 1


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(bytes=bytes(value))


def upgrade() -> None:
    table = op.create_table(
        "rule_sets",
        sa.Column("workspace_id", goodwill.db.base.Id(), nullable=False),
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("program_id", goodwill.db.base.Id(), nullable=False),
        sa.Column("rules", _JSON, nullable=False),
        sa.Column("created_at", goodwill.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_rule_sets_program_id_programs")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_rule_sets_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_rule_sets")),
    )
    found: dict[tuple[uuid.UUID, uuid.UUID], list[list[str]]] = {}
    for workspace_id, program_id, rule_id, name in op.get_bind().execute(
        sa.text(
            "SELECT workspace_id, program_id, id, name FROM reward_rules WHERE active ORDER BY id"
        )
    ):
        key = (_uuid(workspace_id), _uuid(program_id))
        found.setdefault(key, []).append([str(_uuid(rule_id)), name])
    now = datetime.now(UTC)
    rows = [
        {
            "workspace_id": workspace_id,
            "id": _digest(program_id, rules),
            "program_id": program_id,
            "rules": rules,
            "created_at": now,
        }
        for (workspace_id, program_id), rules in found.items()
    ]
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_table("rule_sets")
