"""`goodwill serve` delivers in-process by default (the app's lifespan runs a worker)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from goodwill.clock import utcnow
from goodwill.db import Database
from goodwill.http.app import create_app
from goodwill.migrate import upgrade
from goodwill.settings import Settings
from tests.conftest import FakeClock, make_tenant
from tests.sink import running_sink
from tests.webhook_helpers import deliveries_of, emit_event


async def test_the_app_lifespan_runs_a_worker_unless_told_not_to(tmp_path: Path) -> None:
    # A database of its own: the in-process worker serves every workspace.
    database_url = f"sqlite:///{tmp_path / 'serve.db'}"
    await asyncio.to_thread(upgrade, Settings(database_url=database_url))
    db = Database(Settings(database_url=database_url))
    try:
        await _check_lifespan(db, database_url)
    finally:
        await db.dispose()


async def _check_lifespan(db: Database, database_url: str) -> None:
    clock = FakeClock(utcnow())
    tenant = await make_tenant(db, clock)
    base = {"database_url": database_url, "webhook_allow_private": True, "log_level": "warning"}
    with running_sink() as sink:
        from goodwill.webhooks import service
        from goodwill.webhooks.schemas import EndpointCreate

        async with db.transaction() as session:
            endpoint = await service.create(
                session, tenant.workspace_id, EndpointCreate(url=sink.url()), clock()
            )
        await emit_event(db, tenant, clock)

        quiet = create_app(
            Settings(**base, run_worker=False), clock=clock, database=db, background=True
        )
        async with quiet.lifespan():
            await asyncio.sleep(0.5)
        assert sink.received == []

        not_background = create_app(Settings(**base), clock=clock, database=db, background=False)
        async with not_background.lifespan():
            await asyncio.sleep(0.5)
        assert sink.received == []

        app = create_app(
            Settings(**base, webhook_poll_seconds=0.05), clock=clock, database=db, background=True
        )
        async with app.lifespan():
            for _ in range(100):
                if sink.received:
                    break
                await asyncio.sleep(0.05)
    assert len(sink.received) == 1
    (d,) = await deliveries_of(db, str(endpoint.id))
    assert d.status == "succeeded"


def test_serve_no_worker_turns_in_process_delivery_off(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from goodwill.cli import app

    started: list[str] = []
    monkeypatch.setattr(uvicorn, "run", lambda target, **_kw: started.append(target))
    monkeypatch.setenv("GOODWILL_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("GOODWILL_RUN_WORKER", "true")  # restored after the test
    runner = CliRunner()
    assert runner.invoke(app, ["serve"]).exit_code == 0
    assert Settings.from_env(env_file=None).run_worker is True
    assert runner.invoke(app, ["serve", "--no-worker"]).exit_code == 0
    assert Settings.from_env(env_file=None).run_worker is False
    assert started == ["goodwill.http.asgi:create"] * 2
