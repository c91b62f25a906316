"""The event feed: every event exactly once, in a stable order, for a consumer following cursors.

Events are stored in groups (``goodwill.events.models``); an event's place in the feed is its
row's, then its slot in the row. On PostgreSQL, ``seq`` values are taken when rows are inserted
but become visible when their transactions commit, which can be in another order: a reader at
``seq > 41`` could move past 42 before the transaction holding 41 commits, and never see it. So
each row carries the id of its writing transaction (``txid``), the feed is ordered by
``(txid, seq)``, and a read only returns rows whose transaction id is below the oldest
transaction still running (``pg_snapshot_xmin(pg_current_snapshot())``): every transaction
below that has finished, so no row can appear later below the cursor. Newer rows wait until
that holds, a matter of milliseconds. On SQLite writers are serialized, so ``seq`` order is
commit order.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Collection, Sequence

from sqlalchemy import BigInteger, Select, Text, cast, func, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.db.repository import among
from goodwill.errors import NotFound, ValidationFailed
from goodwill.events import refs
from goodwill.events.catalog import matches, pattern_problem
from goodwill.events.models import GROUP_SIZE, Event, EventGroup, rows_of
from goodwill.http.pagination import check_limit

# e2: (txid, seq, slot). e1 cursors, from before groups, name a row of one event: (txid, seq).
CURSOR_VERSION = "e2"
# Transaction ids and seq values are BIGINT: a cursor outside that range was not one of ours.
_CURSOR_MAX = 2**63 - 1
# Rows one filtered page reads at most before it answers (with has_more) and lets the
# consumer go on from where it stopped.
SCAN_LIMIT = 2000

Position = tuple[int, int, int]


def encode_cursor(position: Position) -> str:
    raw = ":".join((CURSOR_VERSION, *map(str, position))).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, *numbers = raw.split(":")
        if (version, len(numbers)) == ("e1", 2):
            numbers.append("0")
        elif (version, len(numbers)) != (CURSOR_VERSION, 3):
            raise ValueError(raw)
        txid, seq, slot = map(int, numbers)
        if not (0 <= txid <= _CURSOR_MAX and 0 <= seq <= _CURSOR_MAX and 0 <= slot <= GROUP_SIZE):
            raise ValueError(raw)
        return txid, seq, slot
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


def _rows_from(
    postgres: bool, workspace_id: uuid.UUID, txid: int, seq: int, *, inclusive: bool
) -> Select[EventGroup]:
    stmt = select(EventGroup).where(EventGroup.workspace_id == workspace_id)
    if postgres:
        horizon = cast(cast(func.pg_snapshot_xmin(func.pg_current_snapshot()), Text), BigInteger)
        here = tuple_(EventGroup.txid, EventGroup.seq)
        start = tuple_(literal(txid), literal(seq))
        return stmt.where(
            EventGroup.txid < horizon, here >= start if inclusive else here > start
        ).order_by(EventGroup.txid, EventGroup.seq)
    after = EventGroup.seq >= seq if inclusive else EventGroup.seq > seq
    return stmt.where(after).order_by(EventGroup.seq)


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
    cursor = decode_cursor(after) if after else (0, 0, 0)
    wanted = list(patterns) or ["*"]
    postgres = session.get_bind().dialect.name == "postgresql"
    found: list[Event] = []
    txid, seq, _ = cursor
    inclusive, scanned = True, 0  # the cursor's own row may hold events after it
    while True:
        stmt = _rows_from(postgres, workspace_id, txid, seq, inclusive=inclusive)
        groups = list((await session.scalars(stmt.limit(limit + 1))).all())
        for events in await refs.expand(session, groups):
            for event in events:
                if event.position > cursor and matches(wanted, event.type):
                    found.append(event)
                    if len(found) > limit:
                        return found[:limit], encode_cursor(found[limit - 1].position), True
        scanned += len(groups)
        if groups:
            last = groups[-1]
            txid, seq, inclusive = last.txid or 0, last.seq, False
        if len(groups) <= limit:  # nothing more is ready
            break
        if scanned >= SCAN_LIMIT:
            return found, encode_cursor((txid, seq, GROUP_SIZE)), True
    # Past every row read: the events in them that were left out are not read again.
    end = (txid, seq, GROUP_SIZE) if scanned else cursor
    return found, encode_cursor(end), False


async def by_ids(
    session: AsyncSession, event_ids: Collection[uuid.UUID], workspace_id: uuid.UUID | None = None
) -> dict[uuid.UUID, Event]:
    """The events of ``event_ids`` that exist (in ``workspace_id``, if given), by id."""
    if not event_ids:
        return {}
    stmt = select(EventGroup).where(
        among(session, EventGroup.id, {row for i in event_ids for row in rows_of(i)})
    )
    if workspace_id is not None:
        stmt = stmt.where(EventGroup.workspace_id == workspace_id)
    groups = list(await session.scalars(stmt))
    expanded = {
        g.id: events for g, events in zip(groups, await refs.expand(session, groups), strict=True)
    }
    found: dict[uuid.UUID, Event] = {}
    for event_id in event_ids:
        group_id, own = rows_of(event_id)
        row_id = own if own in expanded else group_id
        events = expanded.get(row_id, [])
        slot = event_id.int - row_id.int
        if slot < len(events):
            found[event_id] = events[slot]
    return found


async def get(session: AsyncSession, workspace_id: uuid.UUID, event_id: uuid.UUID) -> Event:
    found = (await by_ids(session, [event_id], workspace_id)).get(event_id)
    if found is None:
        raise NotFound(f"No event {event_id}")
    return found
