"""Starting Goodwill as a user would (``goodwill serve``), on a fresh database, for a bench run."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

BIN = Path(sys.executable).parent
PG_ADMIN = os.environ.get(
    "GOODWILL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Backend:
    name: str
    url: str
    path: Path | None = None

    def size_bytes(self) -> int:
        """Every byte the database holds: tables, indexes, and (SQLite) the WAL."""
        if self.path is not None:
            return sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*"))
        return asyncio.run(_pg_size(self.url))


async def _pg_size(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT pg_database_size(current_database())"))
    finally:
        await conn.close()


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def backend(name: str) -> Iterator[Backend]:
    if name == "sqlite":
        with tempfile.TemporaryDirectory(prefix="goodwill-bench-") as tmp:
            path = Path(tmp) / "goodwill.db"
            yield Backend("sqlite", f"sqlite:///{path}", path)
        return
    db = f"goodwill_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{db}"'))
    base = PG_ADMIN.rsplit("/", 1)[0]
    try:
        yield Backend("postgresql", f"{base}/{db}")
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))


def server_env(b: Backend, **settings: str) -> dict[str, str]:
    """This process's environment for a bench server on ``b``: quiet, its in-process delivery
    worker off, with ``settings`` (``GOODWILL_…`` names) besides."""
    return {
        **os.environ,
        "GOODWILL_DATABASE_URL": b.url,
        "GOODWILL_LOG_LEVEL": "warning",
        "GOODWILL_RUN_WORKER": "false",
        **settings,
    }


def goodwill(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        [str(BIN / "goodwill"), *args], env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"goodwill {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def migrated_workspace(env: dict[str, str], name: str) -> str:
    """Migrate the database of ``env``, create a workspace named ``name`` and a secret key for
    it with the CLI, as a user would; the key."""
    goodwill(env, "migrate")
    workspace_id = goodwill(env, "workspace", "create", name).strip()
    key = re.search(r"gw_sk_\S+", goodwill(env, "key", "create", "--workspace", workspace_id))
    if key is None:
        raise RuntimeError("goodwill key create printed no key")
    return key.group(0)


@dataclass
class Running:
    base_url: str
    pid: int
    env: dict[str, str]

    def cpu_seconds(self) -> float:
        """User + system CPU the server has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        """The server's peak resident memory so far (VmHWM)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")


@contextmanager
def serve(env: dict[str, str], *extra: str) -> Iterator[Running]:
    port = free_port()
    log = open(Path(tempfile.gettempdir()) / f"goodwill-bench-serve-{port}.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(BIN / "goodwill"), "serve", "--port", str(port), *extra],
        env=env,
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"goodwill serve did not start; see {log.name}")
            time.sleep(0.2)
        yield Running(base, proc.pid, env)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
