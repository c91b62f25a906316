"""Deliveries per second of one worker to a local sink: ``python scripts/bench_delivery.py [N]``.

Uses ``GOODWILL_DATABASE_URL`` if set (a PostgreSQL database is migrated first), else a scratch
SQLite file. The sink is uvicorn on 127.0.0.1 answering 204, in another process.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

from goodwill.clock import utcnow
from goodwill.db import Database
from goodwill.events.service import emit
from goodwill.migrate import upgrade
from goodwill.settings import Settings
from goodwill.webhooks import service
from goodwill.webhooks.schemas import EndpointCreate
from goodwill.webhooks.worker import Worker
from goodwill.workspaces import service as workspaces

SINK = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def main(count: int, url: str) -> None:
    settings = Settings(database_url=url, webhook_allow_private=True, log_level="warning")
    await asyncio.to_thread(upgrade, settings)
    db = Database(settings)
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "sink.py").write_text(SINK)
        sink = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "uvicorn", "sink:app", "--port", str(port), "--no-access-log"),
            *("--log-level", "warning"),
            cwd=tmp,
        )
        try:
            await asyncio.sleep(1.5)
            now = utcnow()
            async with db.transaction() as session:
                ws = await workspaces.create_workspace(session, "bench", now)
                await service.create(
                    session, ws.id, EndpointCreate(url=f"http://127.0.0.1:{port}/"), now
                )
            started = time.perf_counter()
            for start in range(0, count, 500):
                async with db.transaction() as session:
                    for n in range(start, min(count, start + 500)):
                        await emit(
                            session,
                            workspace_id=ws.id,
                            type="reward.created",
                            source="urn:POST:/bench",
                            subject=str(n),
                            data={"n": n, "amount": 42},
                            now=now,
                        )
            emitted = time.perf_counter() - started
            worker = Worker(db, settings, workspace_id=ws.id)
            started = time.perf_counter()
            done = await worker.drain(max_rounds=count)
            elapsed = time.perf_counter() - started
            await worker.aclose()
            sys.stdout.write(
                f"database          {db.dialect}\n"
                f"events emitted    {count} in {emitted:.2f}s ({count / emitted:,.0f}/s)\n"
                f"deliveries made   {done} in {elapsed:.2f}s ({done / elapsed:,.0f}/s)\n"
            )
        finally:
            sink.terminate()
            await sink.wait()
            await db.dispose()


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    default = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    asyncio.run(main(n, os.environ.get("GOODWILL_DATABASE_URL", default)))
