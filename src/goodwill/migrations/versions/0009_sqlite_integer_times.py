"""times as integer microseconds on SQLite

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 09:00:00

SQLAlchemy's ``DateTime`` stores a time on SQLite as 26 characters of text
(``2026-12-03 08:19:32.208000``); Goodwill's ``UTCDateTime`` stores it as the integer number
of microseconds since 1970-01-01 UTC, 8 bytes. A purchase stores about two dozen times across
its rows and their indexes. The columns keep their declared type (``DATETIME``, whose numeric
affinity keeps integers as integers), so only the values change, in place, a chunk of rows at
a time. PostgreSQL's ``timestamptz`` is 8 bytes already: nothing changes there.
"""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 2000
# Fixed here rather than imported, so that this revision does not change when runtime code does.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def _to_micros(value: Any) -> Any:
    if not isinstance(value, str):
        return value  # NULL, or converted already
    moment = datetime.fromisoformat(value)
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return (moment - EPOCH) // MICROSECOND


def _to_text(value: Any) -> Any:
    if not isinstance(value, int):
        return value
    v = EPOCH + timedelta(microseconds=value)
    # SQLAlchemy's own SQLite format: four-digit year, always six fractional digits.
    return (
        f"{v.year:04d}-{v.month:02d}-{v.day:02d} "
        f"{v.hour:02d}:{v.minute:02d}:{v.second:02d}.{v.microsecond:06d}"
    )


def _convert(stored: str, convert: Callable[[Any], Any]) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    tables = bind.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'table' "
        "AND name NOT LIKE 'sqlite_%' AND name != 'alembic_version' ORDER BY name"
    ).all()
    for (table,) in tables:
        columns = [
            row[1]
            for row in bind.exec_driver_sql(f'PRAGMA table_info("{table}")')
            if row[2] == "DATETIME"
        ]
        if not columns:
            continue
        names = ", ".join(f'"{c}"' for c in columns)
        pending = " OR ".join(f"typeof(\"{c}\") = '{stored}'" for c in columns)
        assignments = ", ".join(f'"{c}" = ?' for c in columns)
        after = -(2**63)
        while True:
            rows = bind.exec_driver_sql(
                f'SELECT rowid, {names} FROM "{table}" WHERE rowid > ? AND ({pending}) '  # noqa: S608 - schema names
                f"ORDER BY rowid LIMIT {CHUNK}",
                (after,),
            ).all()
            if not rows:
                break
            bind.exec_driver_sql(
                f'UPDATE "{table}" SET {assignments} WHERE rowid = ?',  # noqa: S608
                [(*(convert(v) for v in row[1:]), row[0]) for row in rows],
            )
            after = rows[-1][0]
        left = bind.exec_driver_sql(f'SELECT count(*) FROM "{table}" WHERE {pending}').scalar()  # noqa: S608
        if left:
            raise RuntimeError(f"{table}: {left} rows still hold {stored} times")


def upgrade() -> None:
    _convert("text", _to_micros)


def downgrade() -> None:
    _convert("integer", _to_text)
