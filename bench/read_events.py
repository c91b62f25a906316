"""Time reading the newest events by id, as the delivery worker claims them; print JSON.

``python -m bench.read_events N SEQ`` against ``GOODWILL_DATABASE_URL``: the newest N events
of the outbox rows up to ``SEQ`` (the end of the purchase workload), read with
``goodwill.events.feed.by_ids`` 15 times, each in its own transaction. Prints the median
microseconds per event and the share of them stored without their data (rendered from their
rows, ``goodwill.events.refs``).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
import uuid

from sqlalchemy import select

import goodwill.models  # noqa: F401 - every table
from goodwill.db import Database
from goodwill.events import feed
from goodwill.events.models import EventGroup
from goodwill.settings import Settings

ROUNDS = 15


async def main(count: int, until: int) -> None:
    db = Database(Settings.from_env())
    try:
        async with db.transaction(write=False) as session:
            groups = await session.scalars(
                select(EventGroup)
                .where(EventGroup.seq <= until)
                .order_by(EventGroup.seq.desc())
                .limit(count)
            )
            ids: list[uuid.UUID] = []
            by_reference = 0
            for group in groups:
                if len(ids) >= count:
                    break
                ids += [event_id for event_id, _ in group.types()]
                by_reference += len(group.references())
        seconds = []
        for _ in range(ROUNDS):
            async with db.transaction(write=False) as session:
                started = time.perf_counter()
                found = await feed.by_ids(session, ids)
                seconds.append(time.perf_counter() - started)
        assert len(found) == len(ids)
        per_event = statistics.median(seconds) / max(len(ids), 1) * 1e6
        share = by_reference / max(len(ids), 1)
        print(json.dumps({"events": len(ids), "us_per_event": per_event, "by_reference": share}))
    finally:
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
