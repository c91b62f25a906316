"""Housekeeping that runs beside the server: forgetting expired idempotency keys, and
expiring loyalty points past their expiry date."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog

from goodwill.clock import Clock
from goodwill.db import Database
from goodwill.idempotency.service import purge
from goodwill.loyalty.points import expire_due_points
from goodwill.settings import Settings

log = structlog.get_logger("goodwill.maintenance")

INTERVAL_SECONDS = 600


async def run_once(db: Database, settings: Settings, clock: Clock) -> int:
    retention = timedelta(hours=max(24, settings.idempotency_retention_hours))
    async with db.transaction() as session:
        return await purge(session, clock(), retention)


async def expire_points_once(db: Database, clock: Clock, batch: int = 500) -> int:
    """Expire due points in batches of cards, one transaction each; how many lots expired."""
    total = 0
    while True:
        async with db.transaction() as session:
            expired = await expire_due_points(session, clock(), limit=batch)
        total += expired
        if expired == 0:
            return total


async def maintenance_loop(db: Database, settings: Settings, clock: Clock) -> None:
    while True:
        try:
            purged = await run_once(db, settings, clock)
            if purged:
                log.info("idempotency_keys_purged", count=purged)
        except Exception:  # keep the loop alive; the next round retries
            log.exception("maintenance_failed")
        try:
            expired = await expire_points_once(db, clock)
            if expired:
                log.info("points_expired", lots=expired)
        except Exception:  # keep the loop alive; the next round retries
            log.exception("points_expiry_failed")
        await asyncio.sleep(INTERVAL_SECONDS)
