"""``make bench``: Goodwill started as a user would, on SQLite then PostgreSQL, under load.

For each database: a fresh database, ``goodwill migrate``, a workspace and key from the CLI,
``goodwill serve`` (delivery worker off while HTTP is measured), the realistic workspace of
bench/workload.py, then for a fixed time at a fixed concurrency with wrk:

  echo       POST /v1/echo/purchases: the same body and validation as a purchase, no database
  purchases  POST /v1/purchases: unique external ids, 60% attributed, 5% replays
  paced      purchases at 70% of the measured maximum (paced after a calibration pass),
             for the latency at that load
  clicks     GET /r/{code}
  events     POST /v1/events
  delivery   50,000 queued events delivered by one worker to a local sink

It prints the table and checks correctness after the run (every accepted purchase stored once,
balances equal their ledger entries, every event delivered); a failed check exits non-zero.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from bench import checks
from bench.server import Backend, backend, migrated_workspace, serve, server_env
from bench.workload import CLICK_LUA, EVENT_LUA, PURCHASE_LUA, load, write_script
from bench.wrk import WrkResult, ensure_wrk, run_wrk

ROOT = Path(__file__).resolve().parent.parent


def checkpoint(b: Backend) -> None:
    if b.path is not None:
        with sqlite3.connect(b.path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def run_backend(name: str, duration: int, connections: int, quick: bool) -> dict[str, Any]:
    results: dict[str, Any] = {"backend": name}
    with backend(name) as b:
        env = server_env(b, GOODWILL_BENCH_ECHO="true", GOODWILL_WEBHOOK_ALLOW_PRIVATE="true")
        key = migrated_workspace(env, "Bench")
        with serve(env) as server, tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            ws = asyncio.run(
                load(
                    server.base_url,
                    key,
                    promoters=200 if quick else 1000,
                    customers=2000 if quick else 10000,
                )
            )
            results["load_seconds"] = round(time.perf_counter() - started, 1)
            run_id = uuid.uuid4().hex[:6]
            scripts = Path(tmp)

            def wrk(
                kind: str,
                body: str,
                endpoint: str = "/v1/purchases",
                pace: float = 0,
                conns: int = connections,
            ) -> WrkResult:
                script = write_script(
                    scripts / f"{kind}.lua", ws, body, endpoint=endpoint, pace_ms=pace
                )
                cpu_before = server.cpu_seconds()
                result = run_wrk(
                    server.base_url,
                    script,
                    duration=duration,
                    connections=conns,
                    args=[f"{run_id}{kind}"],
                )
                result.server_cpu_seconds = server.cpu_seconds() - cpu_before
                return result

            results["echo"] = wrk("echo", PURCHASE_LUA, "/v1/echo/purchases")
            checkpoint(b)
            size_before, rows_before = b.size_bytes(), checks.row_count(b)
            relations_before = checks.relation_sizes(b)
            # The tables and indexes again a fifth of the way in: what they grow by from there
            # is what a purchase costs once each of the server's connections has pages of its
            # own to write to (on PostgreSQL every connection inserts into a heap page of its
            # own in each table, so a workload's first pages are half empty whatever its length).
            steady_from: dict[str, Any] = {}

            def snapshot() -> None:
                steady_from["relations"] = checks.relation_sizes(b)
                steady_from["stored"] = checks.stored_purchases(b)

            timer = threading.Timer(duration / 5, snapshot)
            timer.start()
            results["purchases"] = wrk("purchases", PURCHASE_LUA)
            timer.join()
            checkpoint(b)
            size_after, rows_after = b.size_bytes(), checks.row_count(b)
            relations_after = checks.relation_sizes(b)
            stored = checks.stored_purchases(b)
            purchases_end = checks.query(b, "SELECT max(seq) FROM events")[0][0]
            created = results["purchases"].statuses.get(201, 0)
            results["bytes_per_purchase_by_relation"] = {
                name: (n - relations_before.get(name, 0)) / max(created, 1)
                for name, n in relations_after.items()
                if n != relations_before.get(name, 0)
            }
            steady = stored - steady_from["stored"]
            results["steady_purchases"] = steady
            results["steady_bytes_per_purchase_by_relation"] = {
                name: (n - steady_from["relations"].get(name, 0)) / max(steady, 1)
                for name, n in relations_after.items()
                if n != steady_from["relations"].get(name, 0)
            }
            results["steady_bytes_per_purchase"] = sum(
                results["steady_bytes_per_purchase_by_relation"].values()
            )
            # Every page of the tables and indexes: the files' own growth also holds pages
            # SQLite has freed for reuse and what the write-ahead log kept when a reader
            # stopped its checkpoint from truncating it.
            results["bytes_per_purchase"] = sum(results["bytes_per_purchase_by_relation"].values())
            results["file_bytes_per_purchase"] = (size_after - size_before) / max(created, 1)
            results["rows_per_purchase"] = (rows_after - rows_before) / max(created, 1)
            # Each connection sends, waits for the answer, then waits ``pace`` ms: a first pass
            # tells the answer time at that load, which the second pace leaves out.
            target_rps = 0.7 * results["purchases"].rps
            period = connections / target_rps * 1000 if target_rps else 0
            calibration = wrk("calibrate", PURCHASE_LUA, pace=period)
            latency = (
                max(0.0, connections / calibration.rps * 1000 - period) if calibration.rps else 0
            )
            results["paced"] = wrk("paced", PURCHASE_LUA, pace=max(0.1, period - latency))
            results["paced_target_rps"] = target_rps
            results["clicks"] = wrk("clicks", CLICK_LUA)
            results["events"] = wrk("events", EVENT_LUA, "/v1/events")
            results["peak_rss_mb"] = server.peak_rss_mb()
            accepted = (
                created + calibration.statuses.get(201, 0) + results["paced"].statuses.get(201, 0)
            )
            results["checks"] = checks.after_ingest(b, accepted, in_flight=3 * connections)
        results["event_reads"] = checks.read_events(env, purchases_end)
        results["delivery"] = checks.delivery(env, 10_000 if quick else 50_000)
    return results


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "-"


def print_table(all_results: list[dict[str, Any]]) -> bool:
    ok = True
    print()
    print(
        f"{'workload':<22}{'req/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}{'÷ echo':>8}"
        f"{'cpu µs':>9}  statuses"
    )
    for r in all_results:
        print(f"--- {r['backend']} (load {r['load_seconds']} s)")
        echo: WrkResult = r["echo"]
        for name in ("echo", "purchases", "paced", "clicks", "events"):
            w: WrkResult = r[name]
            purchases: WrkResult = r["purchases"]
            label = name
            if name == "paced":
                label = f"paced @{w.rps / purchases.rps:.0%} of max" if purchases.rps else name
            print(
                f"{label:<22}{w.rps:>9.0f}{w.p50:>9.2f}{w.p90:>9.2f}{w.p99:>9.2f}{w.max:>9.1f}"
                f"{ratio(w.rps, echo.rps):>8}{w.server_cpu_us_per_request:>9.0f}"
                f"  {dict(sorted(w.statuses.items()))}"
                + (f" errors={w.errors}" if w.errors else "")
            )
        wrk_share = echo.wrk_cpu_seconds / echo.seconds
        print(
            f"load generator: during echo wrk used {wrk_share:.0%} of a core, the server "
            f"{echo.server_cpu_seconds / echo.seconds:.0%}: "
            + ("wrk is not the limit" if wrk_share < 0.9 else "wrk may be the limit")
        )
        d = r["delivery"]
        print(
            f"{'delivery (1 worker)':<22}{d['per_second']:>9.0f}  ({d['delivered']} of {d['queued']} in {d['seconds']:.1f} s)"
        )
        e = r["event_reads"]
        print(
            f"event reads by id        {e['us_per_event']:.1f} µs each ({e['events']} of the "
            f"purchase workload's last, {e['by_reference']:.0%} rendered from their rows)"
        )
        print(
            f"database per purchase: {r['steady_bytes_per_purchase']:.0f} bytes of tables and "
            f"indexes over the workload's last {r['steady_purchases']} purchases (over all of "
            f"it {r['bytes_per_purchase']:.0f}, the files grew {r['file_bytes_per_purchase']:.0f}), "
            f"{r['rows_per_purchase']:.1f} rows; server peak memory {r['peak_rss_mb']:.0f} MB"
        )
        tables: dict[str, float] = {}
        for name, n in r["steady_bytes_per_purchase_by_relation"].items():
            tables[name.split(".")[0]] = tables.get(name.split(".")[0], 0) + n
        by_table = sorted(tables.items(), key=lambda kv: -kv[1])
        print(
            "  by table, with its indexes: "
            + ", ".join(f"{t} {n:.0f}" for t, n in by_table if abs(n) >= 1)
        )
        for check, (passed, detail) in {
            **r["checks"],
            "every event delivered": (d["ok"], d["detail"]),
        }.items():
            print(f"check {'PASS' if passed else 'FAIL'}: {check}: {detail}")
            ok = ok and passed
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per workload")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--quick", action="store_true", help="a smaller workspace, for a smoke run")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    ensure_wrk()
    all_results = [
        run_backend(n, args.duration, args.connections, args.quick)
        for n in args.backends.split(",")
    ]
    ok = print_table(all_results)
    if args.json:
        args.json.write_text(
            json.dumps(
                all_results,
                default=lambda o: o.__dict__ if hasattr(o, "__dict__") else str(o),
                indent=2,
            )
        )
    if not ok:
        print("\nA correctness check FAILED.")
        sys.exit(1)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
