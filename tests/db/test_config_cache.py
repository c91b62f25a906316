"""The per-process cache of a workspace's configuration (goodwill.workspaces.config) and the
triggers of migration 0005 that give ``workspaces.config_version`` a new value with every
change to programs, reward rules and webhook subscriptions."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from goodwill.db import Database, sqlite_inline
from goodwill.db.raw import Sql, insert_into, raw
from goodwill.events.service import emit
from goodwill.http.app import create_app
from goodwill.ids import new_id
from goodwill.programs import service as programs
from goodwill.programs.models import Program
from goodwill.programs.schemas import ProgramCreate, ProgramPatch
from goodwill.rules import service as rules
from goodwill.rules.models import RewardRule
from goodwill.rules.schemas import RewardIn, RuleCreate, RulePatch
from goodwill.settings import Settings
from goodwill.webhooks import service as endpoints
from goodwill.webhooks.models import WebhookDelivery, WebhookEndpoint
from goodwill.webhooks.schemas import EndpointCreate, EndpointPatch
from goodwill.workspaces import config as workspace_config
from goodwill.workspaces.models import Workspace
from tests.conftest import SQLITE_ONLY, FakeClock, Tenant, count_rows
from tests.kit import DESTINATION, Kit, code_of, stored_events

HOOK = "http://127.0.0.1:9/hook"


class Rollback(Exception):
    pass


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, log_level="warning", webhook_allow_private=True)


async def config_version(db: Database, tenant: Tenant) -> int:
    async with db.transaction(write=False) as session:
        found = await session.scalar(
            select(Workspace.config_version).where(Workspace.id == tenant.workspace_id)
        )
    assert found is not None
    return int(found)


class Versions:
    """The workspace's config_version after each step, which must never repeat."""

    def __init__(self, db: Database, tenant: Tenant) -> None:
        self.db = db
        self.tenant = tenant
        self.seen: list[int] = []

    async def start(self) -> None:
        self.seen = [await config_version(self.db, self.tenant)]

    async def changed(self, step: str) -> None:
        now = await config_version(self.db, self.tenant)
        assert now not in self.seen, f"{step}: config_version {now} used before"
        self.seen.append(now)

    async def unchanged(self, step: str) -> None:
        now = await config_version(self.db, self.tenant)
        assert now == self.seen[-1], f"{step}: config_version changed"


async def run_sql(db: Database, sql: str, **params: Any) -> None:
    async with db.transaction() as session:
        await (await raw(session)).run(Sql(sql), **params)


async def snapshot(db: Database, tenant: Tenant) -> workspace_config.WorkspaceConfig:
    async with db.transaction(write=False) as session:
        return await workspace_config.current(session, tenant.workspace_id)


def program_row(tenant: Tenant, clock: FakeClock, **over: Any) -> dict[str, Any]:
    return {
        "id": new_id(),
        "workspace_id": tenant.workspace_id,
        "kind": "referral",
        "name": "Raw",
        "currency": "EUR",
        "status": "active",
        "settings": {"destination_url": DESTINATION},
        "created_at": clock(),
        "updated_at": clock(),
    } | over


def rule_row(
    tenant: Tenant, clock: FakeClock, program_id: uuid.UUID, **over: Any
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "workspace_id": tenant.workspace_id,
        "program_id": program_id,
        "name": "raw rule",
        "trigger": "purchase",
        "conditions": None,
        "reward_type": "fixed",
        "amount_minor": 500,
        "percent": None,
        "cap_minor": None,
        "points": None,
        "beneficiary": "promoter",
        "per_referral": None,
        "window_days": None,
        "promoter_period": None,
        "promoter_max_count": None,
        "promoter_max_amount": None,
        "hold_days": 0,
        "exclusive_group": None,
        "active": True,
        "created_at": clock(),
        "updated_at": clock(),
    } | over


def endpoint_row(tenant: Tenant, clock: FakeClock, **over: Any) -> dict[str, Any]:
    return {
        "id": new_id(),
        "workspace_id": tenant.workspace_id,
        "kind": "webhook",
        "url": HOOK,
        "subject": None,
        "event_types": ["*"],
        "format": "cloudevents",
        "enabled": True,
        "description": None,
        "secret": "whsec_x",
        "previous_secret": None,
        "previous_secret_expires_at": None,
        "disabled_reason": None,
        "failing_since": None,
        "created_at": clock(),
        "updated_at": clock(),
        "deleted_at": None,
    } | over


async def insert(db: Database, model: Any, values: dict[str, Any]) -> None:
    async with db.transaction() as session:
        await (await raw(session)).run(insert_into(model.__table__), **values)


# -- the triggers ---------------------------------------------------------------------------------


async def test_every_change_through_the_api_gives_a_never_used_config_version(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    kit = Kit(client, tenant)
    versions = Versions(db, tenant)
    await versions.start()

    program = await kit.program()
    await versions.changed("program created")
    r = await client.patch(
        f"/v1/programs/{program['id']}", json={"name": "Renamed"}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text
    await versions.changed("program renamed")
    r = await client.patch(
        f"/v1/programs/{program['id']}", json={"status": "paused"}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text
    await versions.changed("program paused")

    rule = await kit.rule(program, reward={"type": "fixed", "amount": "5"})
    await versions.changed("rule created")
    rule_url = f"/v1/programs/{program['id']}/rules/{rule['id']}"
    r = await client.patch(rule_url, json={"active": False}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    await versions.changed("rule deactivated")
    r = await client.patch(
        rule_url, json={"reward": {"type": "fixed", "amount": "6"}}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text
    await versions.changed("rule reward changed")

    endpoint = await kit.post("/v1/webhook-endpoints", {"url": HOOK}, 201)
    await versions.changed("endpoint created")
    url = f"/v1/webhook-endpoints/{endpoint['id']}"
    for step, body in (
        ("endpoint disabled", {"enabled": False}),
        ("endpoint enabled", {"enabled": True}),
        ("endpoint filter changed", {"event_types": ["reward.*"]}),
    ):
        r = await client.patch(url, json=body, headers=tenant.headers)
        assert r.status_code == 200, r.text
        await versions.changed(step)
    r = await client.delete(url, headers=tenant.headers)
    assert r.status_code == 200, r.text
    await versions.changed("endpoint deleted")
    assert len(versions.seen) == 12


async def test_every_change_in_hand_written_sql_gives_a_never_used_config_version(
    db: Database, tenant: Tenant, other_tenant: Tenant, clock: FakeClock
) -> None:
    versions = Versions(db, tenant)
    await versions.start()
    program = program_row(tenant, clock)
    rule = rule_row(tenant, clock, program["id"])
    endpoint = endpoint_row(tenant, clock)

    await insert(db, Program, program)
    await versions.changed("program inserted")
    await run_sql(db, "UPDATE programs SET settings = :s WHERE id = :id", s={}, id=program["id"])
    await versions.changed("program updated")
    await insert(db, RewardRule, rule)
    await versions.changed("rule inserted")
    await run_sql(db, "UPDATE reward_rules SET hold_days = 3 WHERE id = :id", id=rule["id"])
    await versions.changed("rule updated")
    await run_sql(db, "DELETE FROM reward_rules WHERE id = :id", id=rule["id"])
    await versions.changed("rule deleted")
    await run_sql(db, "DELETE FROM programs WHERE id = :id", id=program["id"])
    await versions.changed("program deleted")

    await insert(db, WebhookEndpoint, endpoint)
    await versions.changed("endpoint inserted")
    for step, sql, params in (
        ("enabled", "UPDATE webhook_endpoints SET enabled = :v WHERE id = :id", False),
        ("event_types", "UPDATE webhook_endpoints SET event_types = :v WHERE id = :id", ["a"]),
        ("deleted_at", "UPDATE webhook_endpoints SET deleted_at = :v WHERE id = :id", clock()),
        # Setting a watched column to the value it has is a change as far as the cache knows.
        (
            "deleted_at again",
            "UPDATE webhook_endpoints SET deleted_at = :v WHERE id = :id",
            clock(),
        ),
    ):
        await run_sql(db, sql, v=params, id=endpoint["id"])
        await versions.changed(step)
    await run_sql(db, "DELETE FROM webhook_endpoints WHERE id = :id", id=endpoint["id"])
    await versions.changed("endpoint deleted")

    # One statement over two workspaces' programs changes both; one over no row, neither.
    others = Versions(db, other_tenant)
    await others.start()
    await insert(db, Program, program_row(tenant, clock))
    await versions.changed("second program")
    await insert(db, Program, program_row(other_tenant, clock))
    await versions.unchanged("another workspace's program")
    await others.changed("another workspace's program")
    await run_sql(
        db,
        "UPDATE programs SET name = 'x' WHERE workspace_id IN (:a, :b)",
        a=tenant.workspace_id,
        b=other_tenant.workspace_id,
    )
    await versions.changed("both workspaces' programs renamed")
    await others.changed("both workspaces' programs renamed")
    await run_sql(db, "UPDATE programs SET name = 'y' WHERE id = :id", id=new_id())
    await versions.unchanged("no program")
    await others.unchanged("no program")


async def test_changes_the_cache_does_not_hold_keep_the_config_version(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, other_tenant: Tenant, clock: FakeClock
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    ada = await kit.promoter(program)
    endpoint = await kit.post("/v1/webhook-endpoints", {"url": HOOK}, 201)
    versions = Versions(db, tenant)
    await versions.start()

    url = f"/v1/webhook-endpoints/{endpoint['id']}"
    r = await client.patch(url, json={"description": "ledger"}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    await versions.unchanged("endpoint description")
    r = await client.patch(url, json={"url": "http://127.0.0.1:10/hook"}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    await versions.unchanged("endpoint url")
    r = await client.post(url + "/rotate-secret", headers=tenant.headers)
    assert r.status_code == 200, r.text
    await versions.unchanged("secret rotated")
    for column, value in (
        ("failing_since", clock()),
        ("updated_at", clock.advance(minutes=1)),
        ("disabled_reason", "flaky"),
        ("previous_secret_expires_at", None),
    ):
        await run_sql(
            db,
            f"UPDATE webhook_endpoints SET {column} = :v WHERE id = :id",  # noqa: S608 - fixed names
            v=value,
            id=uuid.UUID(endpoint["id"]),
        )
        await versions.unchanged(column)

    await kit.purchase(external_id="p1", amount="10.00", code=code_of(ada))
    await versions.unchanged("a purchase")
    await kit.post("/v1/customers", {"source_id": "cleo"}, 201)
    await versions.unchanged("a customer")

    other = Kit(client, other_tenant)
    await other.rule(await other.program(), reward={"type": "fixed", "amount": "1"})
    await versions.unchanged("another workspace's program and rule")


# -- the cache -------------------------------------------------------------------------------------


async def test_the_snapshot_is_shared_until_the_version_changes(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    first = await snapshot(db, tenant)
    assert await snapshot(db, tenant) is first  # read from the process's cache
    rule = await kit.rule(program, reward={"type": "fixed", "amount": "5"})
    second = await snapshot(db, tenant)
    assert second is not first
    assert second.version == await config_version(db, tenant)
    assert [r.id for r in second.rules[uuid.UUID(program["id"])]] == [uuid.UUID(rule["id"])]
    assert first.rules == {}


@pytest.fixture
async def second_process(settings: Settings, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    """The app on a Database of its own: another process on the same database."""
    other = Database(settings)
    app = create_app(settings, clock=clock, database=other, background=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    await other.dispose()


async def test_a_change_through_one_process_is_used_by_the_next_request_of_another(
    client: httpx.AsyncClient,
    second_process: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
) -> None:
    admin = Kit(client, tenant)
    shop = Kit(second_process, tenant)
    program = await admin.program()
    ada = await admin.promoter(program)
    code = code_of(ada)

    # The second process caches the configuration without rules...
    assert (await shop.purchase(external_id="p1", amount="100.00", code=code))["rewards"] == []
    # ...and the first adds one.
    rule = await admin.rule(program, reward={"type": "fixed", "amount": "5.00"})
    second = await shop.purchase(external_id="p2", amount="100.00", code=code)
    assert [(r["rule_id"], r["amount"]) for r in second["rewards"]] == [(rule["id"], 5)]

    r = await client.patch(
        f"/v1/programs/{program['id']}/rules/{rule['id']}",
        json={"reward": {"type": "fixed", "amount": "7.00"}},
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text
    third = await shop.purchase(external_id="p3", amount="100.00", code=code)
    assert [(r["rule_id"], r["amount"]) for r in third["rewards"]] == [(rule["id"], 7)]

    r = await client.patch(
        f"/v1/programs/{program['id']}", json={"status": "paused"}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text
    assert (await shop.purchase(external_id="p4", amount="100.00", code=code))["rewards"] == []

    # A subscription made through the first process: the second's next event is delivered.
    endpoint = await admin.post(
        "/v1/webhook-endpoints", {"url": HOOK, "event_types": ["purchase.created"]}, 201
    )
    fifth = await shop.purchase(external_id="p5", amount="100.00", code=code)
    async with db.transaction(write=False) as session:
        deliveries = (
            await session.scalars(
                select(WebhookDelivery).where(WebhookDelivery.workspace_id == tenant.workspace_id)
            )
        ).all()
    assert [str(d.endpoint_id) for d in deliveries] == [endpoint["id"]]
    assert fifth["rewards"] == []


async def test_a_change_rolled_back_never_shows_through_the_cache(
    db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    """The version a rolled-back change gave the workspace is never given again."""
    before = await snapshot(db, tenant)
    seen: list[workspace_config.WorkspaceConfig] = []

    async def ghost() -> None:
        async with db.transaction() as session:
            endpoint = await endpoints.create(
                session, tenant.workspace_id, EndpointCreate(url=HOOK), clock()
            )
            seen.append(await workspace_config.current(session, tenant.workspace_id))
            assert seen[0].subscriptions == ((endpoint.id, ("*",)),)
            raise Rollback

    with pytest.raises(Rollback):
        await ghost()
    assert await config_version(db, tenant) == before.version
    # No read in between (it would replace the rolled-back snapshot in the cache): another
    # change, one as the rolled-back one was, committed. The cache gives it, and nothing of
    # the rolled-back one.
    async with db.transaction() as session:
        program = await programs.create(
            session,
            tenant.workspace_id,
            ProgramCreate(
                kind="referral",
                name="Real",
                currency="EUR",
                settings={"destination_url": DESTINATION},
            ),
            clock(),
        )
    committed = await snapshot(db, tenant)
    assert committed.version == await config_version(db, tenant)
    assert committed.version not in (before.version, seen[0].version)
    assert list(committed.programs) == [program.id]
    assert committed.subscriptions == ()
    assert await snapshot(db, tenant) is committed


async def test_a_change_is_seen_by_the_rest_of_its_own_transaction(
    db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    ws = tenant.workspace_id

    async def event(session: Any, n: int) -> uuid.UUID:
        return await emit(
            session,
            workspace_id=ws,
            type="reward.created",
            source="urn:test",
            subject=str(n),
            data={"n": n},
            now=clock(),
        )

    async with db.transaction() as session:
        before = await event(session, 1)  # reads the configuration: no subscriptions yet
        endpoint = await endpoints.create(
            session, ws, EndpointCreate(url=HOOK, event_types=["reward.*"]), clock()
        )
        subscribed = await event(session, 2)
        await endpoints.patch(session, ws, endpoint.id, EndpointPatch(enabled=False), clock())
        disabled = await event(session, 3)
        await endpoints.patch(session, ws, endpoint.id, EndpointPatch(enabled=True), clock())
        enabled = await event(session, 4)
        await endpoints.delete(session, ws, endpoint.id, clock())
        await event(session, 5)

        program = await programs.create(
            session,
            ws,
            ProgramCreate(
                kind="referral",
                name="Now",
                currency="EUR",
                settings={"destination_url": DESTINATION},
            ),
            clock(),
        )
        assert list((await workspace_config.current(session, ws)).programs) == [program.id]
        rule, _ = await rules.create(
            session,
            ws,
            program.id,
            RuleCreate(
                name="r", trigger="purchase", reward=RewardIn(type="fixed", amount=Decimal(5))
            ),
            clock(),
        )
        config = await workspace_config.current(session, ws)
        assert [r.id for r in config.rules[program.id]] == [rule.id]
        await rules.patch(
            session, ws, program.id, rule.id, data=RulePatch(active=False), now=clock()
        )
        assert (await workspace_config.current(session, ws)).rules == {}
        await programs.patch(session, ws, program.id, ProgramPatch(status="paused"), clock())
        assert (await workspace_config.current(session, ws)).programs[program.id].status == "paused"

    async with db.transaction(write=False) as session:
        deliveries = (
            await session.scalars(
                select(WebhookDelivery.event_id).where(WebhookDelivery.workspace_id == ws)
            )
        ).all()
    assert sorted(deliveries) == sorted([subscribed, enabled])
    assert before not in deliveries
    assert disabled not in deliveries
    assert len(await stored_events(db, ws)) == 5


@SQLITE_ONLY
async def test_a_batch_that_fails_to_commit_leaves_no_configuration_behind(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A purchase batched behind an uncommitted rule reads that rule; when the batch's COMMIT
    fails, the cache must not keep it under the version that is still the committed one."""
    kit = Kit(client, tenant)
    program = await kit.program()
    ada = await kit.promoter(program)
    program_id = uuid.UUID(program["id"])
    committed = await config_version(db, tenant)
    db.shared.clear()  # a process that has not read the workspace's configuration yet

    real_commit = sqlite_inline.Connection.commit
    failures: list[int] = []

    async def failing_once(self: sqlite_inline.Connection) -> None:
        if not failures:
            failures.append(1)
            raise sqlite3.OperationalError("disk I/O error")
        await real_commit(self)

    monkeypatch.setattr(sqlite_inline.Connection, "commit", failing_once)

    async def add_rule() -> None:
        async with db.transaction() as session:
            await (await raw(session)).run(
                insert_into(RewardRule.__table__),  # type: ignore[arg-type]
                **rule_row(tenant, clock, program_id),
            )

    async def purchase_reads() -> None:
        # As a purchase does: with the version authentication read before the transaction.
        async with db.transaction() as session:
            config = await workspace_config.current(session, tenant.workspace_id, version=committed)
            assert len(config.rules[program_id]) == 1  # the batch's uncommitted rule

    results = await asyncio.gather(add_rule(), purchase_reads(), return_exceptions=True)
    assert failures == [1]
    assert all(isinstance(r, OperationalError) for r in results), results
    assert await config_version(db, tenant) == committed
    assert await count_rows(db, "reward_rules", tenant.workspace_id) == 0

    async with db.transaction() as session:
        config = await workspace_config.current(session, tenant.workspace_id, version=committed)
    assert list(config.programs) == [program_id]
    assert config.rules == {}  # the rule was never committed
    # The next purchase is granted nothing by it (its reward could not even be written).
    bought = await kit.purchase(external_id="p1", amount="100.00", code=code_of(ada))
    assert bought["rewards"] == []
    assert await count_rows(db, "purchases", tenant.workspace_id) == 1
