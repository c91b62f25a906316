"""Deliveries per second of one webhook worker to a local sink.

    python scripts/bench_delivery.py [--deliveries 20000] [--runs 5] [--databases sqlite,postgresql]
                                     [--batch-size N] [--concurrency N]

For each database (a scratch SQLite file; a scratch PostgreSQL database made on
``GOODWILL_BENCH_POSTGRES_URL``, default ``postgresql://postgres@127.0.0.1:5432/postgres``, and
dropped after), each run queues ``--deliveries`` events for one endpoint (``purchase.created``
payloads shaped like seed 000, about 800 bytes signed), then one :class:`Worker` with the
default settings (or ``--batch-size``, ``--concurrency``), on uvloop as ``goodwill worker``
runs, delivers them all: claims, signed requests, attempt rows, delivery updates. It prints each run's deliveries/s and the worker's
CPU time per delivery, then the median of the runs.

The sink is a raw asyncio protocol (httptools parser, answers 204) in another process on
127.0.0.1. Its capacity is measured first with wrk (when installed) and printed beside the
worker's rate, to show the sink is not the bottleneck; after each run the sink's count must
show every delivery received.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from goodwill import aio
from goodwill.clock import format_time, utcnow
from goodwill.db import Database
from goodwill.events.models import Event
from goodwill.ids import new_id
from goodwill.migrate import upgrade
from goodwill.settings import Settings
from goodwill.webhooks import service
from goodwill.webhooks.fanout import delivery_row
from goodwill.webhooks.models import WebhookDelivery
from goodwill.webhooks.schemas import EndpointCreate
from goodwill.webhooks.worker import Worker
from goodwill.workspaces import service as workspaces

PG_ADMIN_URL = os.environ.get(
    "GOODWILL_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)

# -- the sink (run as: bench_delivery.py --sink PORT) ------------------------------------------


def run_sink(port: int) -> None:
    """HTTP/1.1 keep-alive sink: every POST gets 204; ``GET /count`` answers how many POSTs."""
    import httptools

    no_content = b"HTTP/1.1 204 No Content\r\n\r\n"
    received = 0

    class Sink(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport
            self.parser = httptools.HttpRequestParser(self)

        def data_received(self, data: bytes) -> None:
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserError:
                self.transport.close()

        def on_message_complete(self) -> None:
            nonlocal received
            if self.parser.get_method() == b"GET":
                body = str(received).encode()
                head = f"HTTP/1.1 200 OK\r\ncontent-length: {len(body)}\r\n\r\n".encode()
                self.transport.write(head + body)
            else:
                received += 1
                self.transport.write(no_content)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Sink, "127.0.0.1", port, backlog=1024)
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        await server.serve_forever()

    aio.run(serve())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sink_count(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/count", timeout=5) as r:
        return int(r.read())


def sink_capacity(port: int, body_size: int) -> float | None:
    """Requests/s wrk gets from the sink (32 connections, POSTs like the worker's)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            'wrk.method = "POST"\n'
            f'wrk.body = string.rep("x", {body_size})\n'
            'wrk.headers["content-type"] = "application/cloudevents+json; charset=utf-8"\n'
        )
    try:
        out = subprocess.run(  # noqa: S603 - a fixed command line: wrk against our sink
            [wrk, "-t1", "-c32", "-d3s", "-s", script.name, f"http://127.0.0.1:{port}/"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        Path(script.name).unlink()
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(found.group(1)) if found else None


# -- one database ------------------------------------------------------------------------------


def purchase(n: int, now: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Data and context attributes of a purchase.created event in the seed 000 shape."""
    promoter = str(uuid.uuid4())
    data = {
        "@entity": "goodwill.purchase",
        "trigger_type": "purchase",
        "purchase_id": str(uuid.uuid4()),
        "contact_id": str(uuid.uuid4()),
        "promoter_id": promoter,
        "link_id": str(uuid.uuid4()),
        "item_id": f"item{n}",
        "amount": 420 + n % 1000,
        "created_at": now,
        "updated_at": now,
        "utm_params": {
            "utm_id": "email_apr_newsletter",
            "utm_source": "newsletter",
            "utm_medium": "email",
            "utm_campaign": "product_update_april",
            "utm_term": "existing_users",
            "utm_content": "cta_button_top",
        },
    }
    return data, {"program_id": str(uuid.uuid4()), "promoter_id": promoter}


async def queue(db: Database, workspace_id: uuid.UUID, endpoint_id: uuid.UUID, count: int) -> None:
    """``count`` events and their pending deliveries, the rows emit() writes, in bulk."""
    now = utcnow()
    stamp = format_time(now)
    for start in range(0, count, 2000):
        events, deliveries = [], []
        for n in range(start, min(count, start + 2000)):
            data, attributes = purchase(n, stamp)
            event_id = new_id()
            events.append(
                {
                    "id": event_id,
                    "workspace_id": workspace_id,
                    "type": "purchase.created",
                    "source": "urn:POST:/purchases",
                    "subject": data["purchase_id"],
                    "data": data,
                    "attributes": attributes,
                    "created_at": now,
                }
            )
            deliveries.append(delivery_row(workspace_id, endpoint_id, event_id, now))
        async with db.transaction() as session:
            await session.execute(insert(Event), events)
            await session.execute(insert(WebhookDelivery), deliveries)
    if db.dialect == "postgresql":
        # Statistics as autovacuum keeps them (within a minute of a burst). Without any, the
        # planner cannot know the queue is long and sorts every due row at each claim.
        async with db.engine.connect() as conn:
            await conn.exec_driver_sql("ANALYZE webhook_deliveries")
            await conn.exec_driver_sql("ANALYZE events")
            await conn.commit()


async def one_run(settings: Settings, port: int, count: int) -> tuple[float, float, int]:
    """(deliveries/s, worker CPU µs per delivery, deliveries the sink received)."""
    db = Database(settings)
    try:
        now = utcnow()
        async with db.transaction() as session:
            ws = await workspaces.create_workspace(session, "bench", now)
            endpoint = await service.create(
                session, ws.id, EndpointCreate(url=f"http://127.0.0.1:{port}/hook"), now
            )
        await queue(db, ws.id, endpoint.id, count)
        before = sink_count(port)
        worker = Worker(db, settings, workspace_id=ws.id)
        started, cpu = time.perf_counter(), time.process_time()
        done = await worker.drain(max_rounds=count)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        await worker.aclose()
        received = sink_count(port) - before
        async with db.transaction(write=False) as session:
            pending = await session.scalar(
                select(func.count())
                .select_from(WebhookDelivery)
                .where(WebhookDelivery.workspace_id == ws.id)
                .where(WebhookDelivery.status != "succeeded")
            )
        if done != count or received < count or pending:
            raise SystemExit(f"not all delivered: {done=} {received=} {pending=} of {count}")
        return count / elapsed, cpu / count * 1e6, received
    finally:
        await db.dispose()


def pg_database() -> tuple[str, str]:
    import asyncpg

    name = f"goodwill_bench_{uuid.uuid4().hex[:8]}"

    async def create() -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return PG_ADMIN_URL.rpartition("/")[0] + "/" + name, name


def pg_drop(name: str) -> None:
    import asyncpg

    async def drop() -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


def bench(database: str, port: int, count: int, runs: int, tuning: dict[str, int]) -> float:
    scratch = tempfile.mkdtemp()
    pg_name = None
    if database == "sqlite":
        url = f"sqlite:///{scratch}/bench.db"
    else:
        url, pg_name = pg_database()
    try:
        settings = Settings(
            database_url=url, webhook_allow_private=True, log_level="warning", **tuning
        )
        upgrade(settings)
        rates = []
        for n in range(runs):
            rate, cpu_us, received = aio.run(one_run(settings, port, count))
            rates.append(rate)
            sys.stdout.write(
                f"{database:<10} run {n + 1}: {count} deliveries, {rate:7,.0f}/s, "
                f"worker CPU {cpu_us:4.0f} µs/delivery, sink received {received}\n"
            )
            sys.stdout.flush()
        return statistics.median(rates)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if pg_name is not None:
            pg_drop(pg_name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--batch-size", type=int, default=Settings().webhook_batch_size)
    parser.add_argument("--concurrency", type=int, default=Settings().webhook_concurrency)
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        run_sink(args.sink)
        return
    port = free_port()
    sink = subprocess.Popen(  # noqa: S603 - this script, as the sink
        [sys.executable, __file__, "--sink", str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert sink.stdout is not None
        sink.stdout.readline()  # "ready"
        capacity = sink_capacity(port, 800)
        if capacity is not None:
            sys.stdout.write(f"sink capacity (wrk, 32 connections): {capacity:,.0f} requests/s\n")
        tuning = {"webhook_batch_size": args.batch_size, "webhook_concurrency": args.concurrency}
        medians = {
            database: bench(database, port, args.deliveries, args.runs, tuning)
            for database in args.databases.split(",")
        }
        for database, rate in medians.items():
            ratio = f" ({rate / capacity:.0%} of the sink's capacity)" if capacity else ""
            sys.stdout.write(
                f"{database:<10} median of {args.runs}: {rate:,.0f} deliveries/s{ratio}\n"
            )
    finally:
        sink.terminate()
        sink.wait()


if __name__ == "__main__":
    main()
