"""A new install's first burst on PostgreSQL: purchases/s in consecutive windows.

    .venv/bin/python -m bench.burst [--windows 9] [--seconds 10] [--connections 16]

A fresh database and workspace (two promoters, two customers), then purchases each by a new
customer, with no attribution, from empty tables: what a plan kept while the tables were empty
costs, and how long until a new connection plans again (docs/operations.md, "PostgreSQL plans").
The server runs with this process's environment: set ``GOODWILL_POSTGRES_PLAN_CACHE_MODE`` and
``GOODWILL_POSTGRES_CONNECTION_MAX_AGE_SECONDS`` to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import uuid
from pathlib import Path

from bench.server import backend, migrated_workspace, serve, server_env
from bench.workload import THREAD_IDS_LUA, load, write_script
from bench.wrk import run_wrk

NEW_CUSTOMER_LUA = (
    THREAD_IDS_LUA
    + r"""
counter = 0
function init(args) run_id = args[1] end
function request()
  counter = counter + 1
  local ext = run_id .. "-" .. thread_id .. "-" .. counter
  local body = string.format(
    '{"external_id":"%s","customer":{"source_id":"c-%s"},"amount":"12.50","currency":"EUR"}',
    ext, ext)
  return wrk.format("POST", path, headers, body)
end
"""
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--windows", type=int, default=9)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    with backend("postgresql") as b:
        env = server_env(b)
        key = migrated_workspace(env, "Burst")
        with serve(env) as server, tempfile.TemporaryDirectory() as tmp:
            ws = asyncio.run(load(server.base_url, key, promoters=2, customers=2))
            script = write_script(Path(tmp) / "burst.lua", ws, NEW_CUSTOMER_LUA)
            rates = []
            for _ in range(args.windows):
                result = run_wrk(
                    server.base_url,
                    script,
                    duration=args.seconds,
                    connections=args.connections,
                    args=[uuid.uuid4().hex[:6]],
                )
                rates.append(round(result.rps))
    mode = os.environ.get("GOODWILL_POSTGRES_PLAN_CACHE_MODE", "auto")
    age = os.environ.get("GOODWILL_POSTGRES_CONNECTION_MAX_AGE_SECONDS", "30")
    print(f"plan_cache_mode={mode} connection max age {age} s: purchases/s per {args.seconds} s")
    print(", ".join(map(str, rates)))


if __name__ == "__main__":
    main()
