"""The ``goodwill`` command: serve, migrate, workspaces and keys."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill import aio
from goodwill.clock import format_time, utcnow
from goodwill.db import Database
from goodwill.errors import GoodwillError
from goodwill.settings import Settings
from goodwill.workspaces import service as workspaces
from goodwill.workspaces.models import Workspace

T = TypeVar("T")

app = typer.Typer(
    help="Goodwill: a self-hosted referral and loyalty rewards engine.", no_args_is_help=True
)
workspace_app = typer.Typer(help="Workspaces (tenants).", no_args_is_help=True)
key_app = typer.Typer(
    help="API keys: secret server keys and client key pairs.", no_args_is_help=True
)
app.add_typer(workspace_app, name="workspace")
app.add_typer(key_app, name="key")

out = Console()
err = Console(stderr=True)


def _settings() -> Settings:
    return Settings.from_env()


def _run(fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``fn`` in one committed transaction on the configured database."""
    settings = _settings()

    async def go() -> T:
        db = Database(settings)
        try:
            async with db.transaction() as session:
                return await fn(session)
        finally:
            await db.dispose()

    try:
        return asyncio.run(go())
    except GoodwillError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from None


@app.command()
def migrate() -> None:
    """Bring the database schema to the latest migration."""
    from goodwill.migrate import upgrade

    settings = _settings()
    upgrade(settings)
    out.print(f"Database at the latest migration ({settings.database_url}).")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (GOODWILL_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (GOODWILL_PORT)")] = None,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development)")] = False,
    worker: Annotated[
        bool,
        typer.Option(
            "--worker/--no-worker",
            help="Deliver webhooks in this process (GOODWILL_RUN_WORKER); "
            "turn off when `goodwill worker` runs separately",
        ),
    ] = True,
) -> None:
    """Start the HTTP API. On the embedded SQLite database it migrates first."""
    import os

    import uvicorn

    from goodwill.migrate import upgrade

    if not worker:
        # The app factory reads the environment (also in uvicorn's reload subprocess).
        os.environ["GOODWILL_RUN_WORKER"] = "false"
    settings = _settings()
    if settings.is_sqlite:
        upgrade(settings)
    uvicorn.run(
        "goodwill.http.asgi:create",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        reload=reload,
        access_log=False,
        log_level="warning",
        server_header=False,
    )


@app.command("worker")
def worker_command(
    workspace: Annotated[
        uuid.UUID | None, typer.Option(help="Deliver only this workspace's events")
    ] = None,
) -> None:
    """Deliver webhooks and NATS publications until SIGTERM or Ctrl-C (several may run)."""
    import signal

    from goodwill.logs import configure_logging
    from goodwill.migrate import upgrade
    from goodwill.webhooks.worker import Worker

    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)
    if settings.is_sqlite:
        upgrade(settings)

    async def go() -> None:
        db = Database(settings)
        runner = Worker(db, settings, workspace_id=workspace)
        aio.calm_the_garbage_collector()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, runner.stop)
        try:
            await runner.run()
        finally:
            await runner.aclose()
            await db.dispose()

    aio.run(go())


@app.command()
def demo() -> None:
    """First run only: create a demo workspace and print a secret key and a curl example."""
    from goodwill.migrate import upgrade

    settings = _settings()
    if settings.is_sqlite:
        upgrade(settings)

    async def go(session: AsyncSession) -> tuple[Workspace, str] | None:
        if await session.scalar(select(func.count()).select_from(Workspace)):
            return None
        now = utcnow()
        workspace = await workspaces.create_workspace(session, "Demo", now)
        issued = await workspaces.create_secret_key(session, workspace.id, now, name="demo")
        return workspace, issued.secret

    created = _run(go)
    if created is None:
        out.print("A workspace exists already; create keys with [bold]goodwill key create[/bold].")
        return
    workspace, secret = created
    base = f"http://{settings.host}:{settings.port}"
    out.print(f"Demo workspace [bold]{workspace.id}[/bold]")
    out.print(f"Secret key (shown once, keep it): [bold green]{secret}[/bold green]")
    out.print("Try it once the server is up:")
    out.print(
        f"  curl -s -X POST {base}/v1/customers -H 'X-Api-Key: {secret}' "
        "-H 'Content-Type: application/json' "
        '-d \'{"source_id": "cust-1", "email": "ada@example.com"}\'',
        soft_wrap=True,
    )


@workspace_app.command("create")
def workspace_create(
    name: str,
    event_type_prefix: Annotated[str, typer.Option(help="CloudEvents type prefix")] = "goodwill",
) -> None:
    """Create a workspace and print its id."""

    async def go(session: AsyncSession) -> Workspace:
        return await workspaces.create_workspace(session, name, utcnow(), event_type_prefix)

    out.print(str(_run(go).id))


@workspace_app.command("list")
def workspace_list() -> None:
    """List workspaces."""

    async def go(session: AsyncSession) -> list[Workspace]:
        return list((await session.scalars(select(Workspace).order_by(Workspace.created_at))).all())

    table = Table("id", "name", "event type prefix", "created")
    for w in _run(go):
        table.add_row(str(w.id), w.name, w.event_type_prefix, format_time(w.created_at))
    out.print(table)


@key_app.command("create")
def key_create(
    workspace: Annotated[uuid.UUID, typer.Option(help="Workspace id")],
    client: Annotated[bool, typer.Option("--client", help="Create a client key pair")] = False,
    origin: Annotated[
        list[str] | None, typer.Option(help="Allowed origin (client keys, repeatable)")
    ] = None,
    name: Annotated[str | None, typer.Option(help="A label for the key")] = None,
) -> None:
    """Create a secret key, or with --client a client key pair. The secret is printed once."""

    async def go(session: AsyncSession) -> workspaces.IssuedKey:
        now = utcnow()
        if client:
            return await workspaces.create_client_key(session, workspace, origin or [], now, name)
        if origin:
            raise GoodwillError("--origin applies to client keys; add --client")
        return await workspaces.create_secret_key(session, workspace, now, name)

    issued = _run(go)
    if client:
        out.print(f"Application id: [bold]{issued.key.application_id}[/bold]")
        out.print(f"Client token (shown once): [bold green]{issued.secret}[/bold green]")
        out.print(f"Allowed origins: {', '.join(issued.key.allowed_origins)}")
    else:
        out.print(f"Secret key (shown once): [bold green]{issued.secret}[/bold green]")
    out.print(f"Key id: {issued.key.id}  prefix: {issued.key.prefix}")


@key_app.command("list")
def key_list(
    workspace: Annotated[uuid.UUID | None, typer.Option(help="Only this workspace")] = None,
) -> None:
    """List keys (prefixes only: secrets are never stored)."""
    keys = _run(lambda session: workspaces.list_keys(session, workspace))
    table = Table(
        "id",
        "workspace",
        "kind",
        "prefix",
        "application id",
        "origins",
        "name",
        "created",
        "revoked",
    )
    for k in keys:
        table.add_row(
            str(k.id),
            str(k.workspace_id),
            k.kind,
            k.prefix,
            k.application_id or "",
            " ".join(k.allowed_origins),
            k.name or "",
            format_time(k.created_at),
            format_time(k.revoked_at) if k.revoked_at else "",
        )
    out.print(table)


@key_app.command("revoke")
def key_revoke(key: Annotated[str, typer.Argument(help="Key id or visible prefix")]) -> None:
    """Revoke a key; it stops working at once."""
    revoked = _run(lambda session: workspaces.revoke_key(session, key, utcnow()))
    assert revoked.revoked_at is not None
    out.print(f"Revoked {revoked.prefix} at {format_time(revoked.revoked_at)}")


def main() -> None:
    app()
