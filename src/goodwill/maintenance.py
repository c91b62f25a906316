"""Housekeeping that runs beside the server, every minute: approving rewards whose hold period
has ended, and (every tenth minute) forgetting expired idempotency keys."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog

from goodwill.clock import Clock
from goodwill.db import Database
from goodwill.idempotency.service import purge
from goodwill.rewards.service import approve_due
from goodwill.settings import Settings

log = structlog.get_logger("goodwill.maintenance")

INTERVAL_SECONDS = 60
PURGE_EVERY = 10  # rounds
APPROVE_BATCH = 500


async def run_once(db: Database, settings: Settings, clock: Clock) -> int:
    retention = timedelta(hours=max(24, settings.idempotency_retention_hours))
    async with db.transaction() as session:
        return await purge(session, clock(), retention)


async def approve_held_rewards(db: Database, clock: Clock) -> int:
    """Approve every reward whose hold has ended, one committed batch at a time."""
    total = 0
    while True:
        async with db.transaction() as session:
            approved = await approve_due(session, clock(), limit=APPROVE_BATCH)
        total += approved
        if approved < APPROVE_BATCH:
            return total


async def maintenance_loop(db: Database, settings: Settings, clock: Clock) -> None:
    rounds = 0
    while True:
        try:
            approved = await approve_held_rewards(db, clock)
            if approved:
                log.info("rewards_approved_after_hold", count=approved)
            if rounds % PURGE_EVERY == 0:
                purged = await run_once(db, settings, clock)
                if purged:
                    log.info("idempotency_keys_purged", count=purged)
        except Exception:  # keep the loop alive; the next round retries
            log.exception("maintenance_failed")
        rounds += 1
        await asyncio.sleep(INTERVAL_SECONDS)
