"""The event feed: every event exactly once, in a stable order, for a consumer following cursors.

On PostgreSQL, ``seq`` values are taken when rows are inserted but become visible when their
transactions commit, which can be in another order: a reader at ``seq > 41`` could move past 42
before the transaction holding 41 commits, and never see it. So each event carries the id of its
writing transaction (``txid``), the feed is ordered by ``(txid, seq)``, and a read only returns
rows whose transaction id is below the oldest transaction still running
(``pg_snapshot_xmin(pg_current_snapshot())``): every transaction below that has finished, so no
row can appear later below the cursor. Newer rows wait until that holds, a matter of
milliseconds. On SQLite writers are serialized, so ``seq`` order is commit order.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence

from sqlalchemy import BigInteger, Text, cast, func, literal, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from goodwill.errors import NotFound, ValidationFailed
from goodwill.events.catalog import pattern_problem
from goodwill.events.models import Event
from goodwill.http.pagination import check_limit

CURSOR_VERSION = "e1"
# Transaction ids and seq values are BIGINT: a cursor outside that range was not one of ours.
_CURSOR_MAX = 2**63 - 1


def encode_cursor(txid: int, seq: int) -> str:
    raw = f"{CURSOR_VERSION}:{txid}:{seq}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, txid, seq = raw.split(":")
        if version != CURSOR_VERSION:
            raise ValueError(version)
        position = int(txid), int(seq)
        if not all(0 <= n <= _CURSOR_MAX for n in position):
            raise ValueError(raw)
        return position
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed.single(
            "after", "is not a cursor this feed returned (use next_cursor from the feed)"
        ) from None


def parse_types(types: str | None) -> list[str]:
    """``purchase.created,reward.*`` → patterns, each checked."""
    if types is None:
        return []
    patterns = [t.strip() for t in types.split(",") if t.strip()]
    for pattern in patterns:
        problem = pattern_problem(pattern)
        if problem is not None:
            raise ValidationFailed.single("types", f"{pattern!r}: {problem}")
    return patterns


def type_filter(patterns: Sequence[str]) -> ColumnElement[bool] | None:
    if not patterns or "*" in patterns:
        return None
    exact = [p for p in patterns if not p.endswith(".*")]
    clauses: list[ColumnElement[bool]] = []
    if exact:
        clauses.append(Event.type.in_(exact))
    for family in (p[:-1] for p in patterns if p.endswith(".*")):
        escaped = family.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")
        clauses.append(Event.type.like(escaped + "%", escape="\\"))
    return or_(*clauses)


async def read(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    after: str | None,
    patterns: Sequence[str],
    limit: int,
) -> tuple[list[Event], str, bool]:
    """One page of the feed: (events, the cursor to continue from, whether more are ready)."""
    check_limit(limit)
    txid, seq = decode_cursor(after) if after else (0, 0)
    postgres = session.get_bind().dialect.name == "postgresql"
    stmt = select(Event).where(Event.workspace_id == workspace_id)
    if postgres:
        horizon = cast(cast(func.pg_snapshot_xmin(func.pg_current_snapshot()), Text), BigInteger)
        stmt = stmt.where(
            Event.txid < horizon,
            tuple_(Event.txid, Event.seq) > tuple_(literal(txid), literal(seq)),
        ).order_by(Event.txid, Event.seq)
    else:
        stmt = stmt.where(Event.seq > seq).order_by(Event.seq)
    if (clause := type_filter(patterns)) is not None:
        stmt = stmt.where(clause)
    rows = list((await session.scalars(stmt.limit(limit + 1))).all())
    has_more = len(rows) > limit
    rows = rows[:limit]
    if rows:
        last = rows[-1]
        return rows, encode_cursor(last.txid or 0, last.seq), has_more
    return rows, encode_cursor(txid, seq), False


async def get(session: AsyncSession, workspace_id: uuid.UUID, event_id: uuid.UUID) -> Event:
    found = (
        await session.scalars(
            select(Event).where(Event.workspace_id == workspace_id, Event.id == event_id)
        )
    ).first()
    if found is None:
        raise NotFound(f"No event {event_id}")
    return found
