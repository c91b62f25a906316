"""Correctness after a bench run, read straight from the database, and the delivery workload."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.server import BIN, Backend, free_port

TABLES_SQL = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'",
    "postgresql": "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
}


def query(b: Backend, sql: str) -> list[tuple[Any, ...]]:
    if b.path is not None:
        with sqlite3.connect(b.path) as conn:
            return list(conn.execute(sql).fetchall())

    async def run() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(b.url)
        try:
            return [tuple(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()

    return asyncio.run(run())


def row_count(b: Backend) -> int:
    tables = [r[0] for r in query(b, TABLES_SQL[b.name]) if r[0] != "alembic_version"]
    return sum(query(b, f"SELECT count(*) FROM {t}")[0][0] for t in tables)  # noqa: S608 - table names from the catalog


SIZES_SQL = {
    # dbstat: every page of each table and of its indexes, by the table they belong to
    "sqlite": "SELECT m.tbl_name || '.' || m.name, SUM(s.pgsize) FROM dbstat s "
    "JOIN sqlite_master m ON m.name = s.name GROUP BY m.name",
    # PostgreSQL: each relation's main fork, a table's with its TOAST
    "postgresql": "SELECT t.relname || '.' || c.relname, pg_relation_size(c.oid) "
    "+ CASE WHEN c.reltoastrelid = 0 THEN 0 ELSE pg_relation_size(c.reltoastrelid) END "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public' "
    "LEFT JOIN pg_index i ON i.indexrelid = c.oid "
    "JOIN pg_class t ON t.oid = COALESCE(i.indrelid, c.oid) WHERE c.relkind IN ('r', 'i')",
}


def stored_purchases(b: Backend) -> int:
    return int(query(b, "SELECT count(*) FROM purchases")[0][0])


def relation_sizes(b: Backend) -> dict[str, int]:
    """Bytes of each table and each index, as ``table.table`` and ``table.index``."""
    return {str(name): int(size or 0) for name, size in query(b, SIZES_SQL[b.name])}


def after_ingest(b: Backend, accepted: int, in_flight: int) -> dict[str, tuple[bool, str]]:
    """``accepted``: purchases answered 201. Requests still in flight when wrk stopped (at
    most one per connection and run) may have committed without their answer being read."""
    results: dict[str, tuple[bool, str]] = {}
    stored, distinct = query(b, "SELECT count(*), count(DISTINCT external_id) FROM purchases")[0]
    results["every accepted purchase stored once"] = (
        stored == distinct and accepted <= stored <= accepted + in_flight,
        f"{accepted} answered 201, {stored} stored ({stored - accepted} in flight when the load "
        f"stopped, at most {in_flight}), {distinct} distinct external ids",
    )
    # Each reward is its own earned entry, in the bucket it was created in
    # (goodwill.rewards.ledger); its movements since are rows of ledger_entries.
    rows = query(
        b,
        "SELECT r.id, r.status, r.amount_minor - r.reversed_minor, r.amount_minor, "
        "CASE WHEN r.hold_until <= r.created_at THEN 'approved' ELSE 'pending' END, e.bucket, "
        "COALESCE(SUM(e.amount_minor), 0) FROM rewards r "
        "LEFT JOIN ledger_entries e ON e.reward_id = r.id "
        "GROUP BY r.id, r.status, r.amount_minor, r.reversed_minor, r.hold_until, r.created_at, "
        "e.bucket",
    )
    buckets: dict[Any, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    expected: dict[Any, tuple[str, int]] = {}
    for reward_id, status, net, amount, earned_in, bucket, total in rows:
        if reward_id not in expected:
            buckets[reward_id][earned_in] += int(amount)
        expected[reward_id] = (status, int(net))
        if bucket is not None:
            buckets[reward_id][bucket] += int(total)
    wrong = 0
    for reward_id, (status, net) in expected.items():
        sums = buckets[reward_id]
        want = {status: net} if status in ("pending", "approved", "paid") else {}
        if {k: v for k, v in sums.items() if v} != {k: v for k, v in want.items() if v}:
            wrong += 1
    results["balances equal their ledger entries"] = (
        wrong == 0,
        f"{len(expected)} rewards, {wrong} whose ledger entries do not sum to them",
    )
    return results


SINK_SCRIPT = Path(__file__).with_name("sink.py")


def read_events(env: dict[str, str], until_seq: int, count: int = 1000) -> dict[str, Any]:
    """The newest ``count`` events up to the outbox row ``until_seq``, read by id as the
    delivery worker claims them (bench/read_events.py):
    the cost of rendering the ones stored without their data, which the delivery workload's
    own events (stored whole) do not show."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.read_events", str(count), str(until_seq)],
        env={**env, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def delivery(env: dict[str, str], count: int) -> dict[str, Any]:
    """Queue ``count`` events for one endpoint, then time one ``goodwill worker`` process
    delivering them to a local sink; check the sink saw every event id."""
    port = free_port()
    sink = subprocess.Popen([sys.executable, str(SINK_SCRIPT), str(port)])
    try:
        time.sleep(0.5)
        queue = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.queue_events",
                str(count),
                f"http://127.0.0.1:{port}/hook",
            ],
            env={**env, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
            capture_output=True,
            text=True,
            check=True,
        )
        workspace_id = queue.stdout.strip()
        worker = subprocess.Popen(
            [str(BIN / "goodwill"), "worker", "--workspace", workspace_id], env=env
        )
        started = time.perf_counter()
        seen = 0
        deadline = started + max(120, count / 100)
        while time.perf_counter() < deadline:
            seen = httpx.get(f"http://127.0.0.1:{port}/count", timeout=5).json()["distinct"]
            if seen >= count:
                break
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
        worker.terminate()
        worker.wait(timeout=30)
        return {
            "queued": count,
            "delivered": seen,
            "seconds": elapsed,
            "per_second": seen / elapsed if elapsed else 0.0,
            "ok": seen == count,
            "detail": f"the sink received {seen} distinct webhook ids of {count} queued",
        }
    finally:
        sink.terminate()
        sink.wait(timeout=10)
