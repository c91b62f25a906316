"""SQLite's own cost of writing a purchase's rows, apart from the Python around it.

    .venv/bin/python -m bench.sqlite_writes [--seconds 5] [--purchases 1000]

A fresh database and the ``--quick`` workspace of bench/workload.py, the purchase workload for
``--seconds``, then, on that database with the server stopped: the last ``--purchases``
purchases' rows (the purchase, its rewards, its stamp, its event row, the referrals they
created) taken out and put back with the sqlite3 driver alone, timed per purchase:

  bulk               one executemany per table for all of them
  one by one         each purchase's rows, table by table, as the server writes them
  with savepoints    the same, each purchase in its own savepoint (goodwill.db.group_commit)

each with the server's pragmas (WAL, ``synchronous=FULL``, ``temp_store=MEMORY``) and foreign
keys on, and ``bulk`` once more with them off. Medians of 5 passes, each in a transaction
rolled back afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.server import backend, migrated_workspace, serve, server_env
from bench.workload import PURCHASE_LUA, load, write_script
from bench.wrk import ensure_wrk, run_wrk

ORDER = ["referrals", "purchases", "rewards", "qualifying_purchases", "events"]
Rows = dict[str, tuple[list[str], list[tuple[Any, ...]]]]


def _rows(db: sqlite3.Connection, count: int) -> tuple[Rows, list[dict[str, list[Any]]]]:
    """The last ``count`` purchases' rows by table (each with its rowid first), and the same
    rows by purchase."""
    ids = [
        r[0] for r in db.execute("SELECT id FROM purchases ORDER BY rowid DESC LIMIT ?", [count])
    ]
    marks = ",".join("?" * len(ids))
    queries = {
        "purchases": (f"SELECT rowid, * FROM purchases WHERE id IN ({marks})", ids),  # noqa: S608
        "rewards": (f"SELECT rowid, * FROM rewards WHERE purchase_id IN ({marks})", ids),  # noqa: S608
        "qualifying_purchases": (
            f"SELECT rowid, * FROM qualifying_purchases WHERE purchase_id IN ({marks})",  # noqa: S608
            ids,
        ),
        # the referrals those purchases created: made with them, not before the first of them
        "referrals": (
            "SELECT rowid, * FROM referrals WHERE id IN "  # noqa: S608 - placeholders
            f"(SELECT referral_id FROM purchases WHERE id IN ({marks})) AND created_at >= "
            f"(SELECT min(created_at) FROM purchases WHERE id IN ({marks}))",
            ids * 2,
        ),
        # a purchase writes one events row (its events together)
        "events": ("SELECT rowid, * FROM events ORDER BY rowid DESC LIMIT ?", [len(ids)]),
    }
    rows: Rows = {}
    for table, (sql, args) in queries.items():
        cursor = db.execute(sql, args)
        rows[table] = ([d[0] for d in cursor.description], cursor.fetchall())
    position = {pid: i for i, pid in enumerate(ids)}
    by_purchase: list[dict[str, list[Any]]] = [defaultdict(list) for _ in ids]
    for table, key in [
        ("purchases", "id"),
        ("rewards", "purchase_id"),
        ("qualifying_purchases", "purchase_id"),
    ]:
        column = rows[table][0].index(key)
        for row in rows[table][1]:
            by_purchase[position[row[column]]][table].append(row)
    for table in ["events", "referrals"]:
        for i, row in enumerate(rows[table][1]):
            by_purchase[i % len(ids)][table].append(row)
    return rows, by_purchase


def measure(path: Path, count: int) -> dict[str, float]:
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ["journal_mode=WAL", "synchronous=FULL", "temp_store=MEMORY"]:
        db.execute(f"PRAGMA {pragma}")
    rows, by_purchase = _rows(db, count)
    n = len(by_purchase)
    inserts = {
        t: f"INSERT INTO {t} (rowid, {', '.join(cols[1:])}) "  # noqa: S608 - the schema's names
        f"VALUES ({', '.join('?' * len(cols))})"
        for t, (cols, _) in rows.items()
    }

    def timed(write: Callable[[], None], foreign_keys: bool = True) -> float:
        db.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        db.execute("BEGIN IMMEDIATE")
        try:
            for table in reversed(ORDER):
                db.executemany(
                    f"DELETE FROM {table} WHERE rowid = ?",  # noqa: S608 - the schema's names
                    [(r[0],) for r in rows[table][1]],
                )
            start = time.perf_counter()
            write()
            return (time.perf_counter() - start) / n * 1e6
        finally:
            db.execute("ROLLBACK")

    def bulk() -> None:
        for table in ORDER:
            db.executemany(inserts[table], rows[table][1])

    def one_by_one(savepoints: bool) -> Callable[[], None]:
        def write() -> None:
            for purchase in by_purchase:
                if savepoints:
                    db.execute("SAVEPOINT goodwill_job")
                for table in ORDER:
                    if purchase[table]:
                        db.executemany(inserts[table], purchase[table])
                if savepoints:
                    db.execute("RELEASE goodwill_job")

        return write

    cases: dict[str, tuple[Callable[[], None], bool]] = {
        "bulk": (bulk, True),
        "bulk, foreign keys off": (bulk, False),
        "one by one": (one_by_one(False), True),
        "one by one, with savepoints": (one_by_one(True), True),
    }
    found = {
        name: statistics.median(timed(write, fk) for _ in range(5))
        for name, (write, fk) in cases.items()
    }
    found["rows per purchase, these tables"] = sum(len(r) for _, r in rows.values()) / n
    db.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--purchases", type=int, default=1000)
    args = parser.parse_args()
    ensure_wrk()
    with backend("sqlite") as b:
        assert b.path is not None
        env = server_env(b)
        key = migrated_workspace(env, "SQLite writes")
        with serve(env) as server, tempfile.TemporaryDirectory() as tmp:
            ws = asyncio.run(load(server.base_url, key, promoters=200, customers=2000))
            script = write_script(Path(tmp) / "purchases.lua", ws, PURCHASE_LUA)
            result = run_wrk(
                server.base_url,
                script,
                duration=args.seconds,
                connections=16,
                args=[uuid.uuid4().hex[:6]],
            )
        print(
            f"{result.statuses.get(201, 0)} purchases recorded; SQLite's time for the last "
            f"{args.purchases} purchases' rows, per purchase:"
        )
        for name, value in measure(b.path, args.purchases).items():
            unit = "" if name.startswith("rows") else " µs"
            print(f"  {name:30} {value:7.1f}{unit}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
