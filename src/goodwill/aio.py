"""Running Goodwill's own event loops (``goodwill worker``) the way uvicorn runs ``serve``'s,
and the process settings of a long-running server."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on uvloop where it is installed (not on Windows): the delivery worker
    spends most of its time in the event loop and in socket I/O, which uvloop does in C."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def calm_the_garbage_collector() -> None:
    """For a long-running process (``serve``, ``worker``), once it has started: what exists then
    (modules, the app, the OpenAPI document: hundreds of thousands of objects) is moved out of
    the collector's sight, and young objects are collected less often. A full collection
    otherwise walked all of it, stalling every request in flight for 20-140 ms (measured under
    the purchase benchmark). Requests make few reference cycles; the collector still runs."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)
