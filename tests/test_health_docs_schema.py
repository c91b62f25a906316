from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from httpx import AsyncClient
from sqlalchemy import func, select

from goodwill.db import Database
from goodwill.db.packed import unpack
from goodwill.db.raw import Sql, insert_into, raw
from goodwill.errors import Conflict
from goodwill.events import feed
from goodwill.events.models import EventGroup
from goodwill.events.service import emit
from goodwill.http.app import create_app
from goodwill.loyalty import stamps
from goodwill.migrate import alembic_config, head_revision, upgrade
from goodwill.models import metadata
from goodwill.purchases import service as purchases_service
from goodwill.purchases.models import Purchase
from goodwill.purchases.schemas import ItemIn, PurchaseCreate
from goodwill.referrals.schemas import CustomerRef
from goodwill.rewards import ledger
from goodwill.rules import sets as rule_sets
from goodwill.settings import Settings
from goodwill.webhooks.fanout import delivery_row
from goodwill.webhooks.models import WebhookDelivery, WebhookEndpoint
from goodwill.workspaces import service as workspaces
from tests.conftest import BACKEND, PG_ADMIN_URL, FakeClock, Tenant, _pg_url, make_tenant
from tests.db.test_raw import endpoint
from tests.kit import Kit, code_of
from tests.loyalty.helpers import (
    COFFEE_CARD,
    item,
    make_customer,
    make_program,
    purchase,
    record_purchase,
)


async def test_health_and_readiness(client: AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.json() == {"status": "ok"}
    assert r.headers["x-request-id"].startswith("req_")
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ok"
    assert ready.json()["schema_revision"] == ready.json()["latest_revision"]


async def test_request_id_is_echoed_when_sane(client: AsyncClient) -> None:
    r = await client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await client.get("/healthz", headers={"X-Request-Id": "bad id with spaces"})
    assert r.headers["x-request-id"].startswith("req_")


async def test_openapi_and_docs_are_served_without_a_cdn(client: AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    assert "/v1/customers" in spec["paths"]
    assert "/v1/products/{product_id}" in spec["paths"]
    page = await client.get("/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert urls
    for url in urls:
        assert url.startswith("/"), f"external asset {url}"
        if url.startswith("/docs/assets"):
            assert (await client.get(url)).status_code == 200, url
    assert "cdn" not in page.text.lower()


def schema_diff(sync_conn):  # type: ignore[no-untyped-def]
    """What the database's schema lacks or has beyond the models (Alembic's autogenerate)."""
    return compare_metadata(MigrationContext.configure(sync_conn), metadata)


async def schema_differences(settings: Settings) -> list[Any]:
    """:func:`schema_diff` of the database of ``settings``, on an engine of its own."""
    db = Database(settings)
    try:
        async with db.engine.connect() as conn:
            return list(await conn.run_sync(schema_diff))
    finally:
        await db.dispose()


def rows_of(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    """Every row ``sql`` reads, on a connection of its own: called from a thread, between
    migrations, while the test's event loop waits."""

    async def read() -> list[tuple[Any, ...]]:
        db = Database(settings)
        try:
            async with db.engine.connect() as conn:
                return [tuple(r) for r in await conn.exec_driver_sql(sql)]
        finally:
            await db.dispose()

    return asyncio.run(read())


def execute(settings: Settings, sql: str) -> None:
    """Run ``sql`` and commit it, on a connection of its own (as :func:`rows_of`)."""

    async def write() -> None:
        db = Database(settings)
        try:
            async with db.engine.begin() as conn:
                await conn.exec_driver_sql(sql)
        finally:
            await db.dispose()

    asyncio.run(write())


async def test_migrated_schema_matches_the_models(db: Database) -> None:
    async with db.engine.connect() as conn:
        differences = await conn.run_sync(schema_diff)
    assert differences == []


@pytest.fixture
def scratch_url(tmp_path: Path) -> Iterator[str]:
    """An empty database of the backend under test, dropped after the test."""
    if BACKEND == "sqlite":
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
        return
    name = f"goodwill_scratch_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield _pg_url(name)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def client_on(scratch_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(database_url=scratch_url, log_level="warning")
    db = Database(settings)
    app = create_app(settings, database=db, background=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    await db.dispose()


async def migrated_kit(scratch_url: str, client: AsyncClient) -> tuple[Settings, Tenant, Kit]:
    """The scratch database at the latest migration, a workspace in it, and its API calls."""
    settings = Settings(database_url=scratch_url)
    await asyncio.to_thread(upgrade, settings)
    db = Database(settings)
    try:
        tenant = await make_tenant(db, FakeClock())
    finally:
        await db.dispose()
    return settings, tenant, Kit(client, tenant)


async def test_the_latest_migration_downgrades_and_upgrades_again(scratch_url: str) -> None:
    settings = Settings(database_url=scratch_url)
    await asyncio.to_thread(upgrade, settings)
    await asyncio.to_thread(command.downgrade, alembic_config(settings), "-1")
    await asyncio.to_thread(upgrade, settings)
    db = Database(settings)
    try:
        async with db.engine.connect() as conn:
            assert await conn.run_sync(schema_diff) == []
            if BACKEND == "sqlite":
                # SQLite never records events.txid, so its index there is partial and empty
                sql = (
                    await conn.exec_driver_sql(
                        "SELECT sql FROM sqlite_master WHERE name = 'ix_events_workspace_id_txid_seq'"
                    )
                ).scalar_one()
                assert sql.endswith("WHERE txid IS NOT NULL")
            else:
                # PostgreSQL records every row's txid: its (workspace_id, seq) index is empty
                definition = (
                    await conn.exec_driver_sql(
                        "SELECT indexdef FROM pg_indexes WHERE indexname = "
                        "'ix_events_workspace_id_seq'"
                    )
                ).scalar_one()
                assert definition.endswith("WHERE (txid IS NULL)")
    finally:
        await db.dispose()


async def test_a_rows_events_become_rows_of_their_own_going_back_to_0011(
    scratch_url: str,
) -> None:
    """Migration 0012 going back: each event of a row becomes a row of its own again, under
    its id, and the deliveries' foreign key to them holds again; coming back, they read the
    same."""
    settings = Settings(database_url=scratch_url)
    await asyncio.to_thread(upgrade, settings)
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    db = Database(settings)
    try:
        async with db.transaction() as session:
            workspace = await workspaces.create_workspace(session, "w", now)
            hook = endpoint(SimpleNamespace(workspace_id=workspace.id), enabled=True)  # type: ignore[arg-type]
            await (await raw(session)).run(insert_into(WebhookEndpoint.__table__), **hook)  # type: ignore[arg-type]
        async with db.transaction() as session:
            ids = [
                await emit(
                    session,
                    workspace_id=workspace.id,
                    type=f"reward.{kind}",
                    source="urn:test",
                    subject=str(n),
                    data={"n": n},
                    attributes={"program_id": "p"},
                    now=now,
                )
                for n, kind in enumerate(("created", "approved", "voided"))
            ]
            session.add_all(
                WebhookDelivery(**delivery_row(workspace.id, hook["id"], i, now)) for i in ids
            )
    finally:
        await db.dispose()
    assert [i.int - ids[0].int for i in ids] == [0, 1, 2]

    def stored(sql: str) -> list[Any]:
        return rows_of(settings, sql)

    await asyncio.to_thread(command.downgrade, alembic_config(settings), "0011")
    rows = await asyncio.to_thread(stored, "SELECT id, type, body FROM events ORDER BY seq")
    as_uuid = (lambda v: uuid.UUID(bytes=v)) if BACKEND == "sqlite" else (lambda v: v)
    assert [(as_uuid(i), t, unpack(bytes(b))) for i, t, b in rows] == [
        (i, f"reward.{kind}", ["urn:test", str(n), {"program_id": "p"}, {"n": n}])
        for n, (i, kind) in enumerate(zip(ids, ("created", "approved", "voided"), strict=True))
    ]
    if BACKEND == "sqlite":
        assert await asyncio.to_thread(stored, "PRAGMA foreign_key_check") == []
    else:
        constraint = "SELECT count(*) FROM pg_constraint WHERE conname = "
        found = await asyncio.to_thread(
            stored, constraint + "'fk_webhook_deliveries_event_id_events'"
        )
        assert found == [(1,)]

    await asyncio.to_thread(upgrade, settings)
    db = Database(settings)
    try:
        async with db.transaction(write=False) as session:
            back = await feed.by_ids(session, ids)
    finally:
        await db.dispose()
    assert [(back[i].type, back[i].data, back[i].created_at) for i in ids] == [
        (f"reward.{kind}", {"n": n}, now)
        for n, kind in enumerate(("created", "approved", "voided"))
    ]


async def test_readiness_fails_until_the_schema_is_at_the_latest_migration(
    scratch_url: str, client_on: AsyncClient
) -> None:
    never = await client_on.get("/readyz")
    assert never.status_code == 503
    assert never.json() == {
        "status": "unavailable",
        "database": "ok",
        "schema_revision": None,
        "latest_revision": head_revision(),
    }
    settings = Settings(database_url=scratch_url)
    await asyncio.to_thread(upgrade, settings, "0003")
    behind = await client_on.get("/readyz")
    assert behind.status_code == 503
    assert behind.json()["schema_revision"] == "0003"
    assert (await client_on.get("/healthz")).status_code == 200  # the process is up all along
    await asyncio.to_thread(upgrade, settings)
    ready = await client_on.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["schema_revision"] == head_revision()


async def test_readiness_fails_when_the_database_is_unreachable(tmp_path: Path) -> None:
    url = (
        f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}"
        if BACKEND == "sqlite"
        else "postgresql://postgres@127.0.0.1:1/nowhere"
    )
    settings = Settings(database_url=url, log_level="warning")
    db = Database(settings)
    app = create_app(settings, database=db, background=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        r = await client.get("/readyz")
        assert (await client.get("/healthz")).status_code == 200
    await db.dispose()
    assert r.status_code == 503
    assert r.json()["status"] == "unavailable"
    assert r.json()["database"].startswith("unreachable")


async def test_openapi_describes_errors_as_they_are_answered(
    client: AsyncClient, tenant: Tenant
) -> None:
    spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    operations = [
        (path, method, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if path.startswith(("/v1/", "/client/v1/", "/functions/v1/"))
    ]
    assert len(operations) > 50
    for path, method, operation in operations:
        responses = operation["responses"]
        expected = (
            "SimpleError" if path.endswith(("/operations", "/openapi-operations")) else "Error"
        )
        schema = responses["4XX"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{expected}"}, (path, method)
        for status, response in responses.items():  # Litestar's own error shape is gone
            properties = response.get("content", {}).get("application/json", {})
            assert "detail" not in str(properties), (path, method, status)

    r = await client.post("/v1/customers", json={"email": "x", "color": 1}, headers=tenant.headers)
    assert r.status_code == 422
    envelope = schemas["Error"]["properties"]["error"]
    body = r.json()["error"]
    assert set(envelope["required"]) <= body.keys() <= envelope["properties"].keys()
    item = envelope["properties"]["errors"]["items"]
    assert all(set(item["required"]) == e.keys() for e in body["errors"])
    r = await client.post(
        "/v1/operations",
        content=b"{}",
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 400
    assert r.json().keys() == schemas["SimpleError"]["properties"].keys()
    assert isinstance(r.json()["error"], str)

    page = (await client.get("/docs")).text  # the page embeds the same document
    assert '"SimpleError"' in page
    assert "Validation Exception" not in page


async def test_rows_stored_at_0006_read_the_same_at_the_latest_revision_and_back(
    scratch_url: str,
) -> None:
    """Migration 0007 packs the event payloads and purchase explanations already stored, keys
    in order and every digit kept; 0008 turns SQLite's ids into 16 bytes, references intact;
    0009 turns SQLite's times into integer microseconds; going back to 0006 gives the JSON,
    the hex ids and the texts of the times again."""
    settings = Settings(database_url=scratch_url)
    await asyncio.to_thread(upgrade, settings, "0006")

    def as_0006(value: uuid.UUID) -> Any:  # SQLite kept ids as 32 hex characters then
        return value.hex if BACKEND == "sqlite" else value

    workspace, customer = as_0006(uuid.uuid4()), as_0006(uuid.uuid4())
    moment = datetime(2026, 4, 6, 6, 23, 54, 120_001, tzinfo=UTC)
    # SQLite kept times as SQLAlchemy's text then; the oldest purchase is at the first instant.
    at: Any = "2026-04-06 06:23:54.120001" if BACKEND == "sqlite" else moment
    first_instant: Any = (
        "0001-01-01 00:00:00.000000" if BACKEND == "sqlite" else datetime.min.replace(tzinfo=UTC)
    )
    payloads = [
        {"z": n, "a": {"amount": 12.5, "id": str(uuid.uuid4())}, "é": "'\"$1", "n": None}
        for n in range(2500)  # more than one chunk of the migration
    ]
    explanations = [{"attribution": {"status": "none"}, "rules": [{"n": n}]} for n in range(1200)]
    db = Database(settings)
    try:
        async with db.transaction() as session:
            got = await raw(session)
            await got.run(
                Sql(
                    "INSERT INTO workspaces (id, name, event_type_prefix, settings, created_at) "
                    "VALUES (:id, 'w', '', :s, :at)"
                ),
                id=workspace,
                s={},
                at=at,
            )
            await got.run(
                Sql(
                    "INSERT INTO customers (id, workspace_id, source_id, metadata, created_at, "
                    "updated_at) VALUES (:id, :w, 'c', :m, :at, :at)"
                ),
                id=customer,
                w=workspace,
                m={},
                at=at,
            )
            for payload in payloads:
                await got.run(
                    Sql(
                        "INSERT INTO events (id, workspace_id, type, source, subject, data, "
                        "attributes, created_at) "
                        "VALUES (:id, :w, 'reward.created', 'urn:test', 's', :data, :a, :at)"
                    ),
                    id=as_0006(uuid.uuid4()),
                    w=workspace,
                    data=payload,
                    a={"programid": "p"},
                    at=at,
                )
            for n, explanation in enumerate(explanations):
                await got.run(
                    Sql(
                        "INSERT INTO purchases (id, workspace_id, external_id, fingerprint, "
                        "customer_id, amount_minor, refunded_minor, currency, items, "
                        "purchase_number, status, explanation, occurred_at, created_at, "
                        "updated_at) VALUES (:id, :w, :e, :f, :c, 100, 0, 'EUR', :items, 1, "
                        "'completed', :x, :occurred, :at, :at)"
                    ),
                    id=as_0006(uuid.UUID(int=n + 1)),  # in the order of the list
                    w=workspace,
                    e=f"order-{n}",
                    f="ab" * 32,  # a SHA-256 in hex, as fingerprints were then
                    c=customer,
                    items=[],
                    x=explanation,
                    occurred=first_instant if n == 0 else at,
                    at=at,
                )
    finally:
        await db.dispose()

    def stored(sql: str) -> list[Any]:
        return [row[0] for row in rows_of(settings, sql)]

    events_sql, purchases_sql = (
        "SELECT data FROM events ORDER BY seq",
        "SELECT explanation FROM purchases ORDER BY id",
    )
    await asyncio.to_thread(upgrade, settings)
    bodies = [
        unpack(bytes(v))
        for v in await asyncio.to_thread(stored, events_sql.replace("data", "body"))
    ]
    # One event a row, as they were stored: [type, source, subject, attributes, data].
    assert [len(body) for body in bodies] == [1] * len(bodies)
    assert [body[0][:4] for body in bodies] == [
        ["reward.created", "urn:test", "s", {"programid": "p"}]
    ] * len(bodies)
    unpacked = [body[0][4] for body in bodies]
    assert unpacked == payloads
    assert [list(p) for p in unpacked] == [["z", "a", "é", "n"]] * len(payloads)
    got_explanations = [unpack(bytes(v)) for v in await asyncio.to_thread(stored, purchases_sql)]
    assert got_explanations == explanations
    ids_sql = "SELECT id, customer_id FROM purchases ORDER BY id LIMIT 1"
    times_sql = "SELECT occurred_at FROM purchases ORDER BY id LIMIT 2"
    if BACKEND == "sqlite":
        first_ids = await asyncio.to_thread(stored, ids_sql.replace("id, customer_id", "id"))
        assert first_ids == [uuid.UUID(int=1).bytes]
        times = await asyncio.to_thread(stored, times_sql)
        assert times == [-62_135_596_800_000_000, 1_775_456_634_120_001]
        left = await asyncio.to_thread(
            stored, "SELECT count(*) FROM events WHERE typeof(created_at) != 'integer'"
        )
        assert left == [0]
    db = Database(settings)
    try:
        async with db.transaction(write=False) as session:
            first_row = await session.scalar(select(EventGroup).order_by(EventGroup.seq).limit(1))
            assert first_row is not None
            [first] = first_row.events({})
            assert first.id == first_row.id
            assert (first.data, first.attributes) == (payloads[0], {"programid": "p"})
            assert (first.source, first.subject) == ("urn:test", "s")
            purchase = await session.get(Purchase, uuid.UUID(int=1))
            assert purchase is not None
            assert purchase.explanation == explanations[0]
            assert purchase.customer_id == uuid.UUID(str(customer))
            assert (purchase.occurred_at, purchase.created_at) == (
                datetime.min.replace(tzinfo=UTC),
                moment,
            )
            assert first.created_at == moment
    finally:
        await db.dispose()

    await asyncio.to_thread(command.downgrade, alembic_config(settings), "0006")

    def decoded(values: list[Any]) -> list[Any]:
        return [json.loads(v) if isinstance(v, str) else v for v in values]

    assert decoded(await asyncio.to_thread(stored, events_sql)) == payloads
    assert decoded(await asyncio.to_thread(stored, purchases_sql)) == explanations
    back = await asyncio.to_thread(stored, ids_sql.replace("id, customer_id", "customer_id"))
    assert back == [customer]
    if BACKEND == "sqlite":  # PostgreSQL's timestamptz never changed
        assert await asyncio.to_thread(stored, times_sql) == [first_instant, at]


async def test_stamps_keep_their_rows_and_their_uniqueness_across_0014(scratch_url: str) -> None:
    """Migration 0014 rebuilds the qualifying purchases' table on SQLite (its unique
    constraint now starts with the purchase): going back and forth keeps every stamp as it
    was, and a purchase still stamps a card once per program and index."""
    settings = Settings(database_url=scratch_url)
    await asyncio.to_thread(upgrade, settings)
    now = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
    db = Database(settings)
    stamps_sql = (  # a stamp's transaction_ref is its purchase's external_id since 0025
        "SELECT q.id, q.program_id, q.card_id, q.purchase_id, q.stamp_index, p.external_id, "
        "q.status FROM qualifying_purchases q JOIN purchases p ON p.id = q.purchase_id "
        "ORDER BY q.id"
    )

    def stored() -> list[Any]:
        return rows_of(settings, stamps_sql)

    try:
        async with db.transaction() as session:
            workspace = await workspaces.create_workspace(session, "w", now)
        await make_program(db, workspace.id, "stamps", COFFEE_CARD, now=now)
        customer = await make_customer(db, workspace.id, now=now)
        bought = [
            purchase(customer.id, "4.50", external_id=f"txn_{n}", items=(item("4.50", quantity=n),))
            for n in (1, 2)
        ]
        async with db.transaction() as session:
            for p in bought:
                await record_purchase(session, workspace.id, p, now=now, source="urn:test")
    finally:
        await db.dispose()
    before = await asyncio.to_thread(stored)
    assert [(r[5], r[6]) for r in before] == [("txn_1", "created"), ("txn_2", "created")]

    await asyncio.to_thread(command.downgrade, alembic_config(settings), "0013")
    assert await asyncio.to_thread(stored) == before
    await asyncio.to_thread(upgrade, settings)
    assert await asyncio.to_thread(stored) == before
    db = Database(settings)
    try:
        async with db.engine.connect() as conn:
            assert await conn.run_sync(schema_diff) == []
        async with db.transaction() as session:  # the same purchase again: no second stamp
            again = await record_purchase(session, workspace.id, bought[0], now=now, source="t")
        assert again.stamps_created == []
    finally:
        await db.dispose()
    assert await asyncio.to_thread(stored) == before


async def test_purchases_lines_and_fingerprints_convert_both_ways_across_0015(
    scratch_url: str,
) -> None:
    """Migration 0015 packs a purchase's lines and keeps its fingerprint as the digest's 32
    bytes; going back they are JSON and hex again, and coming back the same bytes. A replay
    still answers the first purchase, another body with its external id is still a 409."""
    settings = Settings(database_url=scratch_url)
    await asyncio.to_thread(upgrade, settings)
    now = datetime(2026, 12, 3, 16, 0, tzinfo=UTC)
    lines = [ItemIn(item_id="sku-1", quantity=2, amount=Decimal("6.25")), ItemIn(item_id="gift")]
    bodies = [
        PurchaseCreate(
            external_id=f"o-{n}",
            customer=CustomerRef(source_id="bob"),
            amount=Decimal("12.50"),
            currency="EUR",
            items=lines[:n],
        )
        for n in (0, 1, 2)
    ]
    db = Database(settings)
    try:
        async with db.transaction() as session:
            workspace = await workspaces.create_workspace(session, "w", now)
        for body in bodies:
            async with db.transaction() as session:
                await purchases_service.record(
                    session, workspace.id, body, now=now, source="urn:test", event_type_prefix="g"
                )
    finally:
        await db.dispose()

    def stored() -> list[Any]:
        return rows_of(
            settings, "SELECT external_id, items, fingerprint FROM purchases ORDER BY id"
        )

    at_head = await asyncio.to_thread(stored)
    expected_lines = [
        [],
        [{"product_id": None, "item_id": "sku-1", "quantity": 2, "amount_minor": 625}],
        [
            {"product_id": None, "item_id": "sku-1", "quantity": 2, "amount_minor": 625},
            {"product_id": None, "item_id": "gift", "quantity": 1, "amount_minor": None},
        ],
    ]
    assert [unpack(bytes(items)) for _, items, _ in at_head] == expected_lines
    # (the digest's first bytes, as purchases keep it now: 0015 converts whatever is stored)
    stored_length = purchases_service.STORED_FINGERPRINT
    assert [len(bytes(f)) for _, _, f in at_head] == [stored_length] * 3

    await asyncio.to_thread(command.downgrade, alembic_config(settings), "0014")
    before = await asyncio.to_thread(stored)
    assert [json.loads(i) if isinstance(i, str) else i for _, i, _ in before] == expected_lines
    assert [f for _, _, f in before] == [bytes(f).hex() for _, _, f in at_head]

    await asyncio.to_thread(upgrade, settings)
    # (PostgreSQL's JSONB kept the lines' keys in its own order meanwhile: the same values)
    assert [(e, unpack(bytes(i)), bytes(f)) for e, i, f in await asyncio.to_thread(stored)] == [
        (e, unpack(bytes(i)), bytes(f)) for e, i, f in at_head
    ]
    db = Database(settings)
    try:
        async with db.engine.connect() as conn:
            assert await conn.run_sync(schema_diff) == []
        async with db.transaction() as session:
            replay = await purchases_service.record(
                session, workspace.id, bodies[2], now=now, source="urn:test", event_type_prefix="g"
            )
        assert not replay.created
        assert replay.purchase.items == expected_lines[2]
        other = msgspec.structs.replace(bodies[2], amount=Decimal("13.00"))
        with pytest.raises(Conflict):
            async with db.transaction() as session:
                await purchases_service.record(
                    session, workspace.id, other, now=now, source="urn:test", event_type_prefix="g"
                )
    finally:
        await db.dispose()


async def test_ledger_entries_keep_their_order_and_amounts_across_0019(scratch_url: str) -> None:
    """Migration 0019 numbers the ledger's entries instead of giving each a UUID: going back
    they get UUIDs of their times, coming back the same numbers in the same order, and the
    next entry written is numbered after them."""
    settings = Settings(database_url=scratch_url)
    await asyncio.to_thread(upgrade, settings)
    account = ("promoter", uuid.uuid4())
    times = [datetime(2026, 12, 6, 19, minute, tzinfo=UTC) for minute in (1, 1, 2, 3)]
    db = Database(settings)
    try:
        async with db.transaction() as session:
            workspace = await workspaces.create_workspace(session, "w", times[0])
        for n, at in enumerate(times):
            async with db.transaction() as session:
                await ledger.write(
                    session,
                    ledger.move(
                        SimpleNamespace(  # type: ignore[arg-type]
                            workspace_id=workspace.id,
                            beneficiary="promoter",
                            promoter_id=account[1],
                            unit="EUR",
                            id=None,
                        ),
                        "pending",
                        "approved",
                        100 + n,
                        kind="approved",
                        now=at,
                    ),
                )
    finally:
        await db.dispose()
    entries_sql = "SELECT id, bucket, amount_minor, created_at FROM ledger_entries ORDER BY id"

    def stored() -> list[Any]:
        return rows_of(settings, entries_sql)

    at_head = await asyncio.to_thread(stored)
    assert [r[0] for r in at_head] == list(range(1, 9))
    assert [r[2] for r in at_head] == [-100, 100, -101, 101, -102, 102, -103, 103]

    await asyncio.to_thread(command.downgrade, alembic_config(settings), "0018")
    before = await asyncio.to_thread(stored)
    assert [r[1:] for r in before] == [r[1:] for r in at_head]  # UUIDv7s: in the same order
    assert len({r[0] for r in before}) == 8

    await asyncio.to_thread(upgrade, settings)
    assert await asyncio.to_thread(stored) == at_head
    db = Database(settings)
    try:
        async with db.engine.connect() as conn:
            assert await conn.run_sync(schema_diff) == []
        async with db.transaction() as session:
            await ledger.write(
                session,
                [
                    ledger.account_entry(
                        workspace.id,
                        account,
                        "EUR",
                        bucket="paid",
                        amount=5,
                        kind="paid",
                        now=times[-1],
                    )
                ],
            )
    finally:
        await db.dispose()
    assert [r[0] for r in await asyncio.to_thread(stored)] == list(range(1, 10))


async def test_what_a_new_row_repeats_is_stored_once_across_0020(
    scratch_url: str, client_on: AsyncClient
) -> None:
    """Migration 0020: a purchase's reward keeps its purchase in ``purchase_id`` alone (its
    ``source_type`` and ``source_id`` are NULL), and a new reward, purchase or stamp has no
    ``updated_at`` until it changes; going back every one is written out again, and a lead's
    reward keeps its own source throughout. The API answers the same before and after."""
    settings = Settings(database_url=scratch_url)
    await asyncio.to_thread(upgrade, settings)
    db = Database(settings)
    try:
        tenant = await make_tenant(db, FakeClock())
        await make_program(db, tenant.workspace_id, "stamps", COFFEE_CARD, now=FakeClock()())
    finally:
        await db.dispose()
    kit = Kit(client_on, tenant)
    program = await kit.program()
    await kit.rule(program, reward={"type": "fixed", "amount": "5"})
    await kit.rule(program, trigger="lead", reward={"type": "fixed", "amount": "1"})
    ada = await kit.promoter(program)
    bought = await kit.purchase(external_id="o-1", amount="20.00", code=code_of(ada))
    await kit.post("/v1/leads", {"customer": {"source_id": "eve"}, "code": code_of(ada)}, 201)
    answered = (await kit.get("/v1/rewards"))["data"]
    purchase_answer = await kit.get(f"/v1/purchases/{bought['id']}")
    sources = sorted((r["source"]["type"], r["source"]["id"], r["purchase_id"]) for r in answered)
    assert len(sources) == 2
    assert ("purchase", bought["id"], bought["id"]) in sources
    assert {r["updated_at"] for r in answered} == {r["created_at"] for r in answered}
    lead_source = next(s for s in sources if s[0] == "lead")[1]
    as_uuid = (lambda v: uuid.UUID(bytes=v)) if BACKEND == "sqlite" else (lambda v: v)

    def stored() -> list[Any]:
        rows = rows_of(settings, "SELECT source_type, source_id, updated_at IS NULL FROM rewards")
        rewards = sorted(
            (t or "", None if i is None else str(as_uuid(i)), bool(u)) for t, i, u in rows
        )
        unchanged = [
            rows_of(settings, f"SELECT count(*) FROM {t} WHERE updated_at IS NULL")[0][0]  # noqa: S608
            for t in ("purchases", "qualifying_purchases")
        ]
        return [rewards, unchanged]

    assert await asyncio.to_thread(stored) == [
        [("", None, True), ("lead", lead_source, True)],
        [1, 1],
    ]
    await asyncio.to_thread(command.downgrade, alembic_config(settings), "0019")
    assert await asyncio.to_thread(stored) == [
        [("lead", lead_source, False), ("purchase", bought["id"], False)],
        [0, 0],
    ]
    await asyncio.to_thread(upgrade, settings)
    assert await asyncio.to_thread(stored) == [
        [("", None, True), ("lead", lead_source, True)],
        [1, 1],
    ]
    assert await schema_differences(settings) == []
    assert (await kit.get("/v1/rewards"))["data"] == answered
    assert await kit.get(f"/v1/purchases/{bought['id']}") == purchase_answer


async def test_rewards_stand_for_their_earned_entries_across_0023(
    scratch_url: str, client_on: AsyncClient
) -> None:
    """Migration 0023: a reward is its own ``earned`` ledger entry. Going back writes each one
    out again, and the sums per account and bucket of those rows alone are the balances the
    rewards and the remaining entries give at head; coming back removes them, and balances
    answer the same. An ``earned`` row that does not repeat its reward stops the upgrade
    before it deletes anything."""
    settings, tenant, kit = await migrated_kit(scratch_url, client_on)
    program = await kit.program()
    await kit.rule(program, reward={"type": "fixed", "amount": "5"}, hold_days=30)
    await kit.rule(
        program,
        reward={"type": "fixed", "amount": "2"},
        beneficiary="referred_customer",
        hold_days=0,
    )
    ada = await kit.promoter(program)
    eve = {"source_id": "eve"}
    first = await kit.purchase(external_id="o-1", amount="20.00", customer=eve, code=code_of(ada))
    second = await kit.purchase(external_id="o-2", amount="30.00", customer=eve)
    assert len(first["rewards"]) == len(second["rewards"]) == 2
    held = next(r for r in first["rewards"] if r["beneficiary"] == "promoter")
    await kit.post(f"/v1/rewards/{held['id']}/approve", {}, 200)
    await kit.refund(second["id"], amount="10.00")
    await kit.post("/v1/payouts", {"customer_id": first["customer_id"]}, 201)
    promoter = (await kit.get(f"/v1/promoters/{ada['id']}"))["balances"]
    assert (promoter[0]["approved"], promoter[0]["pending"]) == (5, 3.33)

    # (the scratch database holds this one workspace)
    entries_sql = (
        "SELECT account_type, account_id, unit, bucket, sum(amount_minor) FROM ledger_entries "
        "GROUP BY account_type, account_id, unit, bucket"
    )
    earned_sql = "SELECT count(*) FROM ledger_entries WHERE kind = 'earned'"

    async def whole_ledger() -> set[tuple[Any, ...]]:
        db = Database(settings)
        try:
            async with db.transaction(write=False) as session:
                found = ledger.entries(tenant.workspace_id).subquery()
                stmt = select(
                    found.c.account_type,
                    found.c.account_id,
                    found.c.unit,
                    found.c.bucket,
                    func.sum(found.c.amount_minor),
                ).group_by(found.c[:4])
                return {tuple(row) for row in (await session.execute(stmt)).all()}
        finally:
            await db.dispose()

    at_head = await whole_ledger()
    assert {r[3] for r in at_head} == {"pending", "approved", "paid"}
    assert await asyncio.to_thread(rows_of, settings, earned_sql) == [(0,)]
    await asyncio.to_thread(command.downgrade, alembic_config(settings), "0022")
    assert await asyncio.to_thread(rows_of, settings, earned_sql) == [(4,)]
    as_uuid = (lambda v: uuid.UUID(bytes=v)) if BACKEND == "sqlite" else (lambda v: v)
    before = {
        (t, as_uuid(i), u, b, int(s))
        for t, i, u, b, s in await asyncio.to_thread(rows_of, settings, entries_sql)
    }
    assert before == {(t, i, u, b, int(s)) for t, i, u, b, s in at_head}

    # An earned entry that says something its reward does not: the upgrade changes nothing.
    await asyncio.to_thread(
        execute,
        settings,
        "UPDATE ledger_entries SET amount_minor = amount_minor + 1 "
        "WHERE kind = 'earned' AND bucket = 'pending'",
    )
    with pytest.raises(RuntimeError, match="migration 0023 changed nothing: 2 rewards"):
        await asyncio.to_thread(upgrade, settings)
    assert await asyncio.to_thread(rows_of, settings, earned_sql) == [(4,)]
    await asyncio.to_thread(
        execute,
        settings,
        "UPDATE ledger_entries SET amount_minor = amount_minor - 1 "
        "WHERE kind = 'earned' AND bucket = 'pending'",
    )

    await asyncio.to_thread(upgrade, settings)
    assert await asyncio.to_thread(rows_of, settings, earned_sql) == [(0,)]
    assert await whole_ledger() == at_head
    assert await schema_differences(settings) == []
    assert (await kit.get(f"/v1/promoters/{ada['id']}"))["balances"] == promoter


async def test_the_rule_sets_of_an_install_are_recorded_by_0024(
    scratch_url: str, client_on: AsyncClient
) -> None:
    """Migration 0024 records the set of every program's active rules, under the id
    ``goodwill.rules.sets.digest`` gives it: an install's purchases name it from the start."""
    settings, tenant, kit = await migrated_kit(scratch_url, client_on)
    program = await kit.program()
    first = await kit.rule(program, name="Ten", reward={"type": "percentage", "percent": "10"})
    second = await kit.rule(program, name="Café ☕", reward={"type": "fixed", "amount": "1"})
    await kit.rule(program, name="Off", reward={"type": "fixed", "amount": "2"}, active=False)
    listed = ((first["id"], "Ten"), (second["id"], "Café ☕"))
    expected = rule_sets.digest(uuid.UUID(program["id"]), listed)
    ids_sql = "SELECT id FROM rule_sets"
    assert (expected,) in await asyncio.to_thread(rows_of, settings, ids_sql)

    await asyncio.to_thread(command.downgrade, alembic_config(settings), "0023")
    await asyncio.to_thread(upgrade, settings)
    assert await asyncio.to_thread(rows_of, settings, ids_sql) == [(expected,)]
    db = Database(settings)
    try:
        async with db.engine.connect() as conn:
            assert await conn.run_sync(schema_diff) == []
        async with db.transaction(write=False) as session:
            assert await rule_sets.read(session, tenant.workspace_id, [expected]) == {
                expected: listed
            }
    finally:
        await db.dispose()
    ada = await kit.promoter(program)
    bought = await kit.purchase(external_id="o-1", amount="10.00", code=code_of(ada))
    assert [r["rule_name"] for r in bought["explanation"]["rules"]] == ["Ten", "Café ☕"]
    assert (await kit.get(f"/v1/purchases/{bought['id']}"))["explanation"] == bought["explanation"]


async def test_stamps_and_rewards_read_what_they_repeated_across_0025(
    scratch_url: str, client_on: AsyncClient
) -> None:
    """Migration 0025: a stamp's customer and transaction_ref are its card's and its
    purchase's, a reward's beneficiary whether it names a customer. Going back writes each
    column out again as the API answered it; a stored value that differs from what would be
    read in its place stops the upgrade before it drops anything; coming back, the API
    answers the same."""
    settings, _tenant, kit = await migrated_kit(scratch_url, client_on)
    program = await kit.program()
    await kit.rule(program, reward={"type": "fixed", "amount": "5"})
    await kit.rule(
        program, reward={"type": "fixed", "amount": "2"}, beneficiary="referred_customer"
    )
    card = {"kind": "stamps", "name": "Coffee", "currency": "EUR", "settings": COFFEE_CARD}
    stamps_program = await kit.post("/v1/programs", card, 201)
    ada = await kit.promoter(program)
    eve = {"source_id": "eve"}
    await kit.purchase(external_id="o-1", amount="20.00", customer=eve, code=code_of(ada))
    await kit.purchase(external_id="o-2", amount="30.00", customer={"source_id": "bob"})

    async def answers() -> tuple[Any, Any]:
        stamps = await kit.get(f"/v1/qualifying-purchases?program_id={stamps_program['id']}")
        rewards = await kit.get("/v1/rewards")
        return stamps["data"], rewards["data"]

    stamps, rewards = await answers()
    assert sorted(s["transaction_ref"] for s in stamps) == ["o-1", "o-2"]
    assert sorted(r["beneficiary"] for r in rewards) == ["promoter", "referred_customer"]
    eve_id = next(s["customer_id"] for s in stamps if s["transaction_ref"] == "o-1")
    by_customer = f"/v1/qualifying-purchases?customer_id={eve_id}"
    assert [s["transaction_ref"] for s in (await kit.get(by_customer))["data"]] == ["o-1"]

    as_text = (lambda v: str(uuid.UUID(bytes=v))) if BACKEND == "sqlite" else str
    stamps_sql = "SELECT id, customer_id, transaction_ref FROM qualifying_purchases ORDER BY id"
    rewards_sql = "SELECT id, beneficiary FROM rewards ORDER BY id"
    await asyncio.to_thread(command.downgrade, alembic_config(settings), "0024")
    stored = await asyncio.to_thread(rows_of, settings, stamps_sql)
    assert [(as_text(i), as_text(c), r) for i, c, r in stored] == sorted(
        (s["id"], s["customer_id"], s["transaction_ref"]) for s in stamps
    )
    stored = await asyncio.to_thread(rows_of, settings, rewards_sql)
    assert [(as_text(i), b) for i, b in stored] == sorted(
        (r["id"], r["beneficiary"]) for r in rewards
    )

    # Stored values that are not what would be read in their place: nothing changes.
    for sql in (
        "UPDATE qualifying_purchases SET transaction_ref = 'o-9'",
        "UPDATE rewards SET beneficiary = 'promoter'",
    ):
        await asyncio.to_thread(execute, settings, sql)
    with pytest.raises(
        RuntimeError,
        match="migration 0025 changed nothing: 2 stamps whose transaction_ref is not their "
        "purchase's external_id, 1 rewards whose beneficiary",
    ):
        await asyncio.to_thread(upgrade, settings)
    for sql in (
        "UPDATE qualifying_purchases SET transaction_ref = "
        "(SELECT external_id FROM purchases WHERE id = qualifying_purchases.purchase_id)",
        "UPDATE rewards SET beneficiary = 'referred_customer' WHERE customer_id IS NOT NULL",
    ):
        await asyncio.to_thread(execute, settings, sql)

    await asyncio.to_thread(upgrade, settings)
    assert await schema_differences(settings) == []
    assert await answers() == (stamps, rewards)


async def test_stamps_are_unique_by_their_ids_across_0026(
    scratch_url: str, client_on: AsyncClient
) -> None:
    """Migration 0026 drops the stamps' unique ``(purchase_id, program_id, stamp_index)``: a
    new purchase's stamps take ids made of its own, which the primary key keeps unique. Going
    back puts it back over the same rows; coming back, a purchase's stamps are still listed by
    purchase."""
    settings, _tenant, kit = await migrated_kit(scratch_url, client_on)
    card = {"kind": "stamps", "name": "Coffee", "currency": "EUR", "settings": COFFEE_CARD}
    await kit.post("/v1/programs", card, 201)
    bought = await kit.purchase(external_id="o-1", amount="4.50")
    by_purchase = f"/v1/qualifying-purchases?purchase_id={bought['id']}"
    (stamp,) = (await kit.get(by_purchase))["data"]
    made = stamps.stamp_id(uuid.UUID(bought["id"]), 0)
    assert stamp["id"] == str(made)

    if BACKEND == "sqlite":
        constraint_sql = "SELECT sql FROM sqlite_master WHERE name = 'qualifying_purchases'"
    else:
        constraint_sql = (
            "SELECT conname FROM pg_constraint WHERE conrelid = 'qualifying_purchases'::regclass"
        )
    name = "uq_qualifying_purchases_purchase_id_program_id_stamp_index"

    def named() -> bool:
        return name in " ".join(str(r[0]) for r in rows_of(settings, constraint_sql))

    assert not await asyncio.to_thread(named)
    await asyncio.to_thread(command.downgrade, alembic_config(settings), "0025")
    assert await asyncio.to_thread(named)
    await asyncio.to_thread(upgrade, settings)
    assert not await asyncio.to_thread(named)
    assert await schema_differences(settings) == []
    assert (await kit.get(by_purchase))["data"] == [stamp]
