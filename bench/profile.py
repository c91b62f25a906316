"""Where a purchase's time goes: py-spy over the bench's purchase workload.

    .venv/bin/python -m bench.profile [--backend sqlite] [--seconds 15] [--out FILE]

A fresh database and the ``--quick`` workspace of bench/workload.py, as ``make bench`` makes
them, then the purchase workload with wrk while ``py-spy record --nonblocking -r 200`` samples
every thread of the server (py-spy is installed into the virtualenv if it is missing; with
``--blocking`` it pauses the server for each sample, so that no stack loses frames). It prints
the rate, the server's CPU per purchase, the event loop's samples by layer, and the functions
that hold the largest shares of the samples, by themselves and with what they call; the raw
stacks stay in ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from bench.server import BIN, backend, migrated_workspace, serve, server_env
from bench.workload import PURCHASE_LUA, load, write_script
from bench.wrk import ensure_wrk, run_wrk

PY_SPY = BIN / "py-spy"


def ensure_py_spy() -> None:
    if not PY_SPY.exists():
        print("installing py-spy (PyPI) ...", flush=True)
        subprocess.run(
            [str(BIN / "python"), "-m", "pip", "install", "--quiet", "py-spy"], check=True
        )


def stacks(raw: Path) -> Iterator[tuple[list[str], int]]:
    """py-spy's raw output: each stack's frames, outermost first, and its samples."""
    for line in raw.read_text().splitlines():
        if line.strip():
            stack, count = line.rsplit(" ", 1)
            yield stack.split(";"), int(count)


def shares(raw: Path) -> tuple[int, Counter[str], Counter[str]]:
    """Samples in all, and by function: by itself (the innermost frame) and with its callees
    (each function once per stack)."""
    total, alone, within = 0, Counter[str](), Counter[str]()
    for frames, n in stacks(raw):
        total += n
        alone[frames[-1]] += n
        for name in {f.split(":")[0] + ")" if " (" in f else f for f in frames}:
            within[name] += n
    return total, alone, within


LAYERS = (
    "SQLite executing statements",
    "HTTP stack and event loop",
    "Goodwill's Python and libraries",
)
_HTTP = ("uvicorn/", "litestar/", "asyncio/", "httptools")
# A line of Goodwill's that hands a statement to the sqlite3 driver: a sample there is SQLite's
# own work (the driver holds the GIL while SQLite runs), not the Python around it.
_DRIVER_CALL = re.compile(r"\.(execute|executemany|fetchone|fetchall)\(")
_SOURCE = Path(__file__).resolve().parent.parent / "src"


@cache
def _calls_driver(path: str, line: int) -> bool:
    try:
        text = (_SOURCE / path).read_text().splitlines()[line - 1]
    except (OSError, IndexError):
        return False
    return _DRIVER_CALL.search(text) is not None


def layer(leaf: str) -> str:
    """Which of :data:`LAYERS` a stack's innermost frame (``name (path:line)``) is in."""
    where = re.search(r"\((goodwill/[^:]+):(\d+)\)$", leaf)
    building = "<listcomp>" in leaf or "<genexpr>" in leaf  # the values, before the call
    if where is not None and not building and _calls_driver(where[1], int(where[2])):
        return LAYERS[0]
    if any(mark in leaf for mark in _HTTP):
        return LAYERS[1]
    return LAYERS[2]


def layers(raw: Path) -> tuple[int, Counter[str]]:
    """The event loop's samples (the stacks under ``goodwill serve``; the others are the
    commit and checkpoint threads), and how many are in each layer."""
    loop, by_layer = 0, Counter[str]()
    for frames, n in stacks(raw):
        if any(f.startswith("serve (goodwill/cli.py") for f in frames):
            loop += n
            by_layer[layer(frames[-1])] += n
    return loop, by_layer


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--out", type=Path, default=Path(tempfile.gettempdir()) / "goodwill-profile.txt"
    )
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument(
        "--blocking",
        action="store_true",
        help="pause the server for each sample: slower, but every stack is whole "
        "(with --nonblocking some are read while the interpreter changes them, and lose frames)",
    )
    args = parser.parse_args()
    ensure_wrk()
    ensure_py_spy()
    with backend(args.backend) as b:
        env = server_env(b, GOODWILL_WEBHOOK_ALLOW_PRIVATE="true")
        key = migrated_workspace(env, "Profile")
        with serve(env) as server, tempfile.TemporaryDirectory() as tmp:
            ws = asyncio.run(load(server.base_url, key, promoters=200, customers=2000))
            script = write_script(Path(tmp) / "purchases.lua", ws, PURCHASE_LUA)
            spy = subprocess.Popen(
                [
                    *(str(PY_SPY), "record", "-r", "200"),
                    *([] if args.blocking else ["--nonblocking"]),
                    *("-d", str(args.seconds), "-f", "raw", "-o", str(args.out)),
                    *("-p", str(server.pid)),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            cpu_before = server.cpu_seconds()
            result = run_wrk(
                server.base_url,
                script,
                duration=args.seconds,
                connections=args.connections,
                args=[uuid.uuid4().hex[:6]],
            )
            cpu = server.cpu_seconds() - cpu_before
            spy.wait()
    created = result.statuses.get(201, 0)
    print(
        f"{args.backend}: {result.rps:.0f} purchases/s, {cpu / max(created, 1) * 1e6:.0f} µs "
        f"of the server's CPU each; py-spy's samples in {args.out}"
    )
    total, alone, within = shares(args.out)
    print(f"\n{total} samples; by itself:")
    for name, n in alone.most_common(args.top):
        print(f"{n / total:7.1%}  {name}")
    loop, by_layer = layers(args.out)
    print(f"\nthe event loop's {loop} samples ({loop / max(total, 1):.0%}), by layer:")
    for name in LAYERS:
        print(f"{by_layer[name] / max(loop, 1):7.1%}  {name}")
    print("\nGoodwill's functions, with what they call:")
    ours = [(name, n) for name, n in within.most_common() if "goodwill/" in name]
    for name, n in ours[: args.top]:
        print(f"{n / total:7.1%}  {name}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
