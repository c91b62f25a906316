"""Webhook endpoints through the API: the secret, validation, the SSRF guard and tenancy."""

from __future__ import annotations

import base64
import uuid

import pytest
from httpx import ASGITransport, AsyncClient

from goodwill.db import Database
from goodwill.http.app import create_app
from goodwill.settings import Settings
from goodwill.webhooks import ssrf
from tests.conftest import FakeClock, Tenant, count_rows, error_of
from tests.kit import stored_events
from tests.webhook_helpers import NATS_URL, create_endpoint, emit_event

TABLES = ("webhook_endpoints", "webhook_deliveries", "webhook_attempts", "events")


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        log_level="warning",
        webhook_allow_private=True,
        nats_allowed_urls=NATS_URL,
    )


async def _nothing_written(db: Database, tenant: Tenant) -> None:
    for table in TABLES:
        assert await count_rows(db, table, tenant.workspace_id) == 0, table


async def test_create_shows_the_secret_once_then_read_list_patch_delete(
    client: AsyncClient, tenant: Tenant, clock: FakeClock
) -> None:
    created = await create_endpoint(
        client,
        tenant,
        url="http://127.0.0.1:9/hook",
        event_types=["reward.*", "purchase.created", "reward.*"],
        description="Ledger sync",
    )
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert created["event_types"] == ["reward.*", "purchase.created"]
    assert created["format"] == "cloudevents"
    assert created["type"] == "webhook"
    assert created["enabled"] is True
    assert created["object"] == "webhook_endpoint"
    assert created["created_at"] == "2026-04-06T06:23:54.793Z"
    url = f"/v1/webhook-endpoints/{created['id']}"
    got = (await client.get(url, headers=tenant.headers)).json()
    assert "secret" not in got
    assert got == {k: v for k, v in created.items() if k != "secret"}
    listed = (await client.get("/v1/webhook-endpoints", headers=tenant.headers)).json()
    assert [e["id"] for e in listed["data"]] == [created["id"]]
    assert "secret" not in listed["data"][0]

    clock.advance(minutes=1)
    patched = await client.patch(
        url,
        json={"format": "flat", "enabled": False, "event_types": ["*"], "description": None},
        headers=tenant.headers,
    )
    assert patched.status_code == 200
    body = patched.json()
    assert (body["format"], body["enabled"], body["event_types"]) == ("flat", False, ["*"])
    assert body["description"] is None
    assert body["disabled_reason"] == "disabled by a user"
    assert body["updated_at"] == "2026-04-06T06:24:54.793Z"

    deleted = await client.delete(url, headers=tenant.headers)
    assert deleted.status_code == 200
    assert deleted.json() == {"id": created["id"], "deleted": True, "object": "webhook_endpoint"}
    assert (await client.get(url, headers=tenant.headers)).status_code == 404
    assert (await client.delete(url, headers=tenant.headers)).status_code == 404
    listed = (await client.get("/v1/webhook-endpoints", headers=tenant.headers)).json()
    assert listed["data"] == []


async def test_bad_input_names_every_field_and_writes_nothing(
    client: AsyncClient, tenant: Tenant, db: Database
) -> None:
    cases = [
        ({}, {"url": "required"}),
        ({"url": "http://127.0.0.1:9/", "format": "xml"}, {"format": "invalid"}),
        ({"url": "http://127.0.0.1:9/", "event_types": []}, {"event_types": "invalid"}),
        (
            {"url": "http://127.0.0.1:9/", "event_types": ["reward.creatd", "*", "Bad"]},
            {"event_types[0]": "invalid", "event_types[2]": "invalid"},
        ),
        (
            {"url": "http://127.0.0.1:9/", "event_types": ["nothing.*"]},
            {"event_types[0]": "invalid"},
        ),
        ({"url": "http://127.0.0.1:9/", "colour": "red"}, {"colour": "unknown_field"}),
        ({"url": "http://127.0.0.1:9/", "enabled": "yes"}, {"enabled": "invalid_type"}),
        ({"url": "http://127.0.0.1:9/", "subject": "x"}, {"subject": "invalid"}),
        ({"url": "ftp://127.0.0.1/"}, {"url": "invalid"}),
        ({"url": "http://user:pw@127.0.0.1/"}, {"url": "invalid"}),
        ({"url": "not a url"}, {"url": "invalid"}),
        ({"url": "http://[::1/hook"}, {"url": "invalid"}),
        ({"url": "nats://[::1", "type": "nats"}, {"url": "invalid"}),
        ({"url": "nats://127.0.0.1:4222"}, {"url": "invalid"}),
        ({"url": "nats://10.1.1.1:4222", "type": "nats"}, {"url": "invalid"}),
        ({"url": "https://127.0.0.1/", "type": "nats"}, {"url": "invalid"}),
        ({"url": NATS_URL, "type": "nats", "subject": "a..b"}, {"subject": "invalid"}),
        ({"url": NATS_URL, "type": "kafka"}, {"type": "invalid"}),
    ]
    for body, expected in cases:
        r = await client.post("/v1/webhook-endpoints", json=body, headers=tenant.headers)
        assert r.status_code == 422, (body, r.text)
        error = error_of(r)
        got = {e["param"]: e["code"] for e in error["errors"]}
        assert got == expected, (body, error)
    await _nothing_written(db, tenant)


async def test_ssrf_guard_refuses_http_and_private_addresses(
    tenant: Tenant, db: Database, settings: Settings, clock: FakeClock
) -> None:
    strict = Settings(database_url=settings.database_url, webhook_allow_private=False)
    app = create_app(strict, clock=clock, database=db, background=False)
    async with AsyncClient(
        transport=ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        await _refusals(client, tenant)
    await _nothing_written(db, tenant)


async def _refusals(client: AsyncClient, tenant: Tenant) -> None:
    refused = {
        "http://127.0.0.1:9/hook": "must be an https:// URL",
        "https://127.0.0.1/hook": "non-public address (127.0.0.1)",
        "https://localhost/hook": "non-public address",
        "https://10.0.0.8/hook": "non-public address (10.0.0.8)",
        "https://192.168.1.1/hook": "non-public address",
        "https://169.254.169.254/latest": "non-public address",
        "https://[::1]/hook": "non-public address (::1)",
        "https://[::ffff:127.0.0.1]/hook": "non-public address",
        "https://0.0.0.0/hook": "non-public address",
        "https://no-such-host.invalid/hook": "does not resolve",
    }
    for url, message in refused.items():
        r = await client.post("/v1/webhook-endpoints", json={"url": url}, headers=tenant.headers)
        assert r.status_code == 422, url
        error = error_of(r)
        assert error["param"] == "url"
        assert message in error["message"], (url, error["message"])


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("100.64.0.1", False),
        ("169.254.1.1", False),
        ("fd00::1", False),
        ("fe80::1", False),
        ("::ffff:10.0.0.1", False),
        ("224.0.0.1", False),
        ("192.0.2.1", False),
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    import ipaddress

    assert ssrf.is_public(ipaddress.ip_address(address)) is public


async def test_nats_endpoints_only_to_allowed_servers(client: AsyncClient, tenant: Tenant) -> None:
    created = await create_endpoint(client, tenant, url=NATS_URL, type="nats")
    assert created["type"] == "nats"
    assert created["subject"] == "goodwill.events"
    r = await client.patch(
        f"/v1/webhook-endpoints/{created['id']}",
        json={"url": "https://example.com/hook"},
        headers=tenant.headers,
    )
    assert r.status_code == 422
    assert error_of(r)["param"] == "url"


async def test_rotate_secret(client: AsyncClient, tenant: Tenant) -> None:
    created = await create_endpoint(client, tenant, url="http://127.0.0.1:9/hook")
    r = await client.post(
        f"/v1/webhook-endpoints/{created['id']}/rotate-secret", headers=tenant.headers
    )
    assert r.status_code == 200
    assert r.json()["secret"] != created["secret"]
    assert r.json()["previous_secret_expires_at"] == "2026-04-07T06:23:54.793Z"


async def test_operations_on_a_disabled_endpoint_are_conflicts(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock
) -> None:
    created = await create_endpoint(client, tenant, url="http://127.0.0.1:9/", enabled=False)
    event_id = await emit_event(db, tenant, clock)
    base = f"/v1/webhook-endpoints/{created['id']}"
    for path, body in [
        (f"{base}/test", None),
        (f"{base}/recover", {"since": "2026-04-01T00:00:00Z"}),
        (f"/v1/events/{event_id}/resend", {"endpoint_id": created["id"]}),
    ]:
        r = await client.post(path, json=body, headers=tenant.headers)
        assert r.status_code == 409, path
        assert "disabled" in error_of(r)["message"]
    r = await client.post(
        f"{base}/recover", json={"since": "2030-01-01T00:00:00Z"}, headers=tenant.headers
    )
    assert r.status_code == 422
    assert error_of(r)["param"] == "since"
    for since in ("yesterday", "0001-01-01T00:00:00+05:00"):  # the latter is before year 1 UTC
        r = await client.post(f"{base}/recover", json={"since": since}, headers=tenant.headers)
        assert r.status_code == 422
        assert error_of(r)["param"] == "since"
    assert await count_rows(db, "webhook_deliveries", tenant.workspace_id) == 0


async def test_another_workspace_gets_404_on_every_route(
    client: AsyncClient, tenant: Tenant, other_tenant: Tenant, db: Database, clock: FakeClock
) -> None:
    created = await create_endpoint(client, tenant, url="http://127.0.0.1:9/hook")
    event_id = await emit_event(db, tenant, clock)
    base = f"/v1/webhook-endpoints/{created['id']}"
    other = other_tenant.headers
    checks = [
        await client.get(base, headers=other),
        await client.patch(base, json={"enabled": False}, headers=other),
        await client.delete(base, headers=other),
        await client.post(f"{base}/rotate-secret", headers=other),
        await client.get(f"{base}/deliveries", headers=other),
        await client.post(f"{base}/recover", json={"since": "2026-04-01T00:00:00Z"}, headers=other),
        await client.post(f"{base}/test", headers=other),
        await client.get(f"/v1/events/{event_id}", headers=other),
        await client.post(f"/v1/events/{event_id}/resend", json={}, headers=other),
    ]
    for r in checks:
        assert r.status_code == 404, (r.request.method, r.request.url, r.text)
        assert error_of(r)["code"] == "not_found"
    # Their own event, our endpoint: still a 404, naming the field.
    theirs = await emit_event(db, other_tenant, clock)
    r = await client.post(
        f"/v1/events/{theirs}/resend", json={"endpoint_id": created["id"]}, headers=other
    )
    assert r.status_code == 404
    assert error_of(r)["param"] == "endpoint_id"
    listed = (await client.get("/v1/webhook-endpoints", headers=other)).json()
    assert listed["data"] == []
    # Nothing of ours changed.
    got = (await client.get(base, headers=tenant.headers)).json()
    assert got["enabled"] is True
    assert await count_rows(db, "webhook_deliveries", other_tenant.workspace_id) == 0
    assert await count_rows(db, "webhook_deliveries", tenant.workspace_id) == 1
    r = await client.get(f"/v1/webhook-endpoints/{uuid.uuid4()}", headers=tenant.headers)
    assert r.status_code == 404


async def test_bad_changes_are_refused_and_change_nothing(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock
) -> None:
    created = await create_endpoint(client, tenant, url="http://127.0.0.1:9/hook")
    url = f"/v1/webhook-endpoints/{created['id']}"
    before = (await client.get(url, headers=tenant.headers)).json()
    clock.advance(minutes=1)
    cases = [
        ({"format": "yaml", "enabled": True}, "format"),
        ({"event_types": ["reward.*", "nope"]}, "event_types[1]"),
        ({"url": "ftp://x"}, "url"),
        ({"url": "http://[::1/hook"}, "url"),
        ({"url": "nats://127.0.0.1:4222"}, "url"),
        ({"subject": "goodwill.events"}, "subject"),
        ({"enabled": None}, "enabled"),
        ({"secret": "whsec_mine"}, "secret"),
    ]
    for body, param in cases:
        r = await client.patch(url, json=body, headers=tenant.headers)
        assert r.status_code == 422, (body, r.text)
        assert error_of(r)["param"] == param, (body, error_of(r))
    assert (await client.get(url, headers=tenant.headers)).json() == before

    base = f"/v1/webhook-endpoints/{created['id']}"
    r = await client.get(f"{base}/deliveries?status=lost", headers=tenant.headers)
    assert r.status_code == 422
    assert error_of(r)["param"] == "status"
    r = await client.post(f"{base}/recover", json={}, headers=tenant.headers)
    assert r.status_code == 422
    assert error_of(r)["param"] == "since"
    event_id = await emit_event(db, tenant, clock)
    r = await client.post(
        f"/v1/events/{event_id}/resend", json={"endpoint_id": "nope"}, headers=tenant.headers
    )
    assert r.status_code == 422
    assert error_of(r)["param"] == "endpoint_id"
    r = await client.post(
        f"/v1/events/{event_id}/resend",
        json={"endpoint_id": str(uuid.uuid4())},
        headers=tenant.headers,
    )
    assert r.status_code == 404
    assert error_of(r)["param"] == "endpoint_id"
    assert await count_rows(db, "webhook_deliveries", tenant.workspace_id) == 1  # the emit's own


async def test_fan_out_sees_endpoint_changes_made_in_the_same_transaction(
    tenant: Tenant, db: Database, clock: FakeClock
) -> None:
    from goodwill.events.service import emit
    from goodwill.webhooks import service
    from goodwill.webhooks.schemas import EndpointCreate, EndpointPatch

    async def event(session: object) -> None:
        await emit(
            session,  # type: ignore[arg-type]
            workspace_id=tenant.workspace_id,
            type="reward.created",
            source="urn:POST:/test",
            subject="s",
            data={},
            now=clock(),
        )

    async with db.transaction() as session:
        await event(session)  # no endpoint yet
        endpoint = await service.create(
            session, tenant.workspace_id, EndpointCreate(url="http://127.0.0.1:9/"), clock()
        )
        await event(session)  # one delivery
        await service.patch(
            session, tenant.workspace_id, endpoint.id, EndpointPatch(enabled=False), clock()
        )
        await event(session)  # none: disabled
    assert len(await stored_events(db, tenant.workspace_id)) == 3
    assert await count_rows(db, "webhook_deliveries", tenant.workspace_id) == 1
