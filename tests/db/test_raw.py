"""Hand-written SQL (goodwill.db.raw) stores every column type as the ORM models do, so a row
written either way reads back the same either way, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from httpx import AsyncClient

from goodwill.db import Database
from goodwill.db.packed import json_of as packed_json_of
from goodwill.db.packed import pack, unpack
from goodwill.db.raw import Raw, Sql, _sqlite_value, insert_into, raw
from goodwill.events import feed
from goodwill.events.models import EventGroup
from goodwill.ids import new_id
from goodwill.programs.models import Program
from goodwill.webhooks.models import WebhookEndpoint
from tests.conftest import Tenant, count_rows
from tests.kit import Kit, code_of

ENDPOINTS = insert_into(WebhookEndpoint.__table__)  # type: ignore[arg-type]
EVENTS = insert_into(EventGroup.__table__)  # type: ignore[arg-type]
PROGRAMS = insert_into(Program.__table__)  # type: ignore[arg-type]
ENDPOINT_COLUMNS = [c.name for c in WebhookEndpoint.__table__.columns]
ENDPOINT_BY_ID = Sql(
    f"SELECT {', '.join(ENDPOINT_COLUMNS)} FROM webhook_endpoints WHERE id = :id"  # noqa: S608 - fixed names
)
TIME_COLUMNS = (
    "previous_secret_expires_at",
    "failing_since",
    "created_at",
    "updated_at",
    "deleted_at",
)
UUID_COLUMNS = ("id", "workspace_id")

FIRST = datetime(1, 1, 1, tzinfo=UTC)
LAST = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
ONE_MICROSECOND = datetime(2026, 4, 6, 6, 23, 54, 1, tzinfo=UTC)
ELSEWHERE = datetime(2026, 4, 6, 12, 0, 0, 500000, tzinfo=timezone(timedelta(hours=5, minutes=30)))

# Digits no binary float holds, a trailing zero, an exponent, a negative zero, big numbers.
EXACT = {
    "amount": Decimal("12.50"),
    "tiny": Decimal("0.1000000000000000055511151231257827"),
    "huge": Decimal("123456789012345678901234567890.123"),
    "exponent": Decimal("1E+2"),
    "zero": Decimal("-0.00"),
    "items": [Decimal("3000000000.003"), 7, None, True, False, "x"],
    "big_int": 2**70,
    "nested": {"id": uuid.UUID("01a236eb-42f1-75a5-b0b9-17f62e0f037d"), "none": None},
}
NESTED = {"id": "01a236eb-42f1-75a5-b0b9-17f62e0f037d", "none": None}  # as JSON holds it


def endpoint(tenant: Tenant, **over: Any) -> dict[str, Any]:
    return {
        "id": new_id(),
        "workspace_id": tenant.workspace_id,
        "kind": "webhook",
        "url": "https://hooks.example/é?q=1",
        "subject": None,
        "event_types": ["reward.*", "purchase.created"],
        "format": "flat",
        "enabled": False,
        "description": "",
        "secret": "whsec_abc",
        "previous_secret": None,
        "previous_secret_expires_at": FIRST,
        "disabled_reason": None,
        "failing_since": LAST,
        "created_at": ONE_MICROSECOND,
        "updated_at": ELSEWHERE,
        "deleted_at": None,
    } | over


def as_utc(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.astimezone(UTC) if isinstance(v, datetime) else v for k, v in values.items()}


def exact(value: Any) -> Any:
    """Decimals compared by their digits (Decimal('12.50') == Decimal('12.5') otherwise)."""
    if isinstance(value, dict):
        return {k: exact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [exact(v) for v in value]
    if isinstance(value, Decimal):
        return ("decimal", str(value))
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


_exact_decoder = msgspec.json.Decoder(float_hook=Decimal)


def exact_json(text: str) -> Any:
    return exact(_exact_decoder.decode(text))


async def orm_endpoint(db: Database, endpoint_id: uuid.UUID) -> dict[str, Any]:
    async with db.transaction(write=False) as session:
        found = await session.get(WebhookEndpoint, endpoint_id)
        assert found is not None
        return {name: getattr(found, name) for name in ENDPOINT_COLUMNS}


async def raw_endpoint(db: Database, endpoint_id: uuid.UUID) -> dict[str, Any]:
    async with db.transaction(write=False) as session:
        got = await raw(session)
        row = await got.one(ENDPOINT_BY_ID, id=endpoint_id)
    assert row is not None
    values = dict(zip(ENDPOINT_COLUMNS, row, strict=True))
    for name in UUID_COLUMNS:
        values[name] = Raw.uuid_of(values[name])
    for name in TIME_COLUMNS:
        values[name] = Raw.time_or_none(values[name])
    values["event_types"] = Raw.json_of(values["event_types"])
    return values


async def test_a_row_written_in_sql_reads_the_same_through_the_orm(
    db: Database, tenant: Tenant
) -> None:
    values = endpoint(tenant)
    async with db.transaction() as session:
        await (await raw(session)).run(ENDPOINTS, **values)
    read = await orm_endpoint(db, values["id"])
    assert read == as_utc(values)
    for name in TIME_COLUMNS:
        if read[name] is not None:
            assert read[name].tzinfo is UTC, name
    assert read["updated_at"] == datetime(2026, 4, 6, 6, 30, 0, 500000, tzinfo=UTC)
    assert read["enabled"] is False
    assert await raw_endpoint(db, values["id"]) == as_utc(values)


async def test_a_row_written_through_the_orm_reads_the_same_in_sql(
    db: Database, tenant: Tenant
) -> None:
    values = endpoint(
        tenant,
        enabled=True,
        previous_secret_expires_at=None,
        failing_since=None,
        created_at=LAST,
        updated_at=FIRST,
        deleted_at=ELSEWHERE,
        description=None,
    )
    async with db.transaction() as session:
        session.add(WebhookEndpoint(**values))
    read = await raw_endpoint(db, values["id"])
    assert read == as_utc(values)
    assert bool(read["enabled"]) is True  # SQLite answers 1
    assert read["deleted_at"].tzinfo is UTC


async def test_parameters_find_rows_the_orm_wrote(db: Database, tenant: Tenant) -> None:
    """Equality and order on UUIDs, times and booleans: the bound forms are the stored ones."""
    early = endpoint(tenant, created_at=FIRST, enabled=True)
    late = endpoint(tenant, created_at=LAST, enabled=False)
    middle = endpoint(tenant, created_at=ELSEWHERE, enabled=True)
    async with db.transaction() as session:
        session.add_all([WebhookEndpoint(**v) for v in (early, late, middle)])
    ws = tenant.workspace_id
    async with db.transaction(write=False) as session:
        got = await raw(session)
        by_id = await got.all(
            Sql("SELECT id FROM webhook_endpoints WHERE id = :id AND workspace_id = :w"),
            id=late["id"],
            w=ws,
        )
        assert [Raw.uuid_of(r[0]) for r in by_id] == [late["id"]]
        at = await got.all(
            Sql("SELECT id FROM webhook_endpoints WHERE workspace_id = :w AND created_at = :t"),
            w=ws,
            t=ELSEWHERE,
        )
        assert [Raw.uuid_of(r[0]) for r in at] == [middle["id"]]
        after = await got.all(
            Sql(
                "SELECT id FROM webhook_endpoints WHERE workspace_id = :w AND created_at > :t "
                "ORDER BY created_at"
            ),
            w=ws,
            t=datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        )
        assert [Raw.uuid_of(r[0]) for r in after] == [middle["id"], late["id"]]
        enabled = await got.all(
            Sql(
                "SELECT id FROM webhook_endpoints WHERE workspace_id = :w AND enabled = :e "
                "ORDER BY created_at"
            ),
            w=ws,
            e=True,
        )
        assert [Raw.uuid_of(r[0]) for r in enabled] == [early["id"], middle["id"]]
        nothing = await got.all(
            Sql("SELECT id FROM webhook_endpoints WHERE workspace_id = :w AND deleted_at = :d"),
            w=ws,
            d=None,
        )
        assert nothing == []  # NULL equals nothing, in both dialects


async def test_json_keeps_every_digit_whichever_way_it_was_written(
    db: Database, tenant: Tenant
) -> None:
    """The stored JSON text holds the decimals exactly, packed (an event's payload and
    attributes in events.body) and in a JSON column (JSONB on PostgreSQL: programs.settings);
    reads decode it the same way either path."""
    at = ONE_MICROSECOND
    by_raw, by_orm = new_id(), new_id()
    event = {
        "workspace_id": tenant.workspace_id,
        "body": [["t", "s", "x", {"programid": EXACT["nested"]}, EXACT]],
        # the outbox packs bodies before they reach the insert (goodwill.events.service)
        "txid": None,
        "created_at": at,
    }
    program = {
        "workspace_id": tenant.workspace_id,
        "kind": "points",
        "name": "p",
        "currency": "EUR",
        "status": "active",
        "settings": EXACT,
        "created_at": at,
        "updated_at": at,
    }
    async with db.transaction() as session:
        got = await raw(session)
        await got.run(EVENTS, id=by_raw, **(event | {"body": pack(event["body"])}))
        await got.run(PROGRAMS, id=by_raw, **program)
        session.add(EventGroup(id=by_orm, **event))
        session.add(Program(id=by_orm, **program))

    expected = exact(EXACT)
    async with db.transaction(write=False) as session:
        got = await raw(session)
        for table, column in (("events", "body"), ("programs", "settings")):
            for row_id in (by_raw, by_orm):
                cast = column if table == "events" else f"CAST({column} AS TEXT)"
                text = await got.scalar(
                    Sql(f"SELECT {cast} FROM {table} WHERE id = :id"),  # noqa: S608 - fixed names
                    id=row_id,
                )
                if table == "events":
                    [[type_, source, subject, attributes, text]] = _exact_decoder.decode(
                        packed_json_of(text)
                    )
                    assert (type_, source, subject) == ("t", "s", "x")
                    assert exact(attributes) == {"programid": exact(NESTED)}
                    stored = text
                else:
                    stored = _exact_decoder.decode(text)
                assert stored == EXACT | {"nested": NESTED}, (table, row_id)  # every number
                if not (table == "programs" and db.dialect == "postgresql"):
                    # every digit too (JSONB keeps the numbers, not how they were written:
                    # -0.00 is 0.00 and 1E+2 is 100 there)
                    assert exact(stored) == expected, (table, row_id)

        raw_reads = {
            (table, row_id): ((lambda v: unpack(v)[0][4]) if table == "events" else Raw.json_of)(
                await got.scalar(
                    Sql(f"SELECT {column} FROM {table} WHERE id = :id"),  # noqa: S608 - fixed names
                    id=row_id,
                )
            )
            for table, column in (("events", "body"), ("programs", "settings"))
            for row_id in (by_raw, by_orm)
        }
        orm_reads = {}
        for row_id in (by_raw, by_orm):
            found_event = await feed.get(session, tenant.workspace_id, row_id)
            found_program = await session.get(Program, row_id)
            assert found_event is not None
            assert found_program is not None
            orm_reads[("events", row_id)] = found_event.data
            orm_reads[("programs", row_id)] = found_program.settings
    assert raw_reads == orm_reads
    # Reading decodes JSON numbers with a fraction as floats, on both paths alike.
    assert {k: v["amount"] for k, v in raw_reads.items()} == dict.fromkeys(raw_reads, 12.5)
    assert {k: v["big_int"] for k, v in raw_reads.items()} == dict.fromkeys(raw_reads, 2**70)


async def test_none_is_null_whichever_way_it_was_written(db: Database, tenant: Tenant) -> None:
    nulls = {
        "subject": None,
        "description": None,
        "previous_secret": None,
        "previous_secret_expires_at": None,
        "disabled_reason": None,
        "failing_since": None,
        "deleted_at": None,
    }
    by_raw = endpoint(tenant, **nulls)
    by_orm = endpoint(tenant, **nulls)
    async with db.transaction() as session:
        await (await raw(session)).run(ENDPOINTS, **by_raw)
        session.add(WebhookEndpoint(**by_orm))
    async with db.transaction(write=False) as session:
        got = await raw(session)
        for values in (by_raw, by_orm):
            row = await got.one(
                Sql(
                    "SELECT subject IS NULL, description IS NULL, previous_secret IS NULL, "
                    "previous_secret_expires_at IS NULL, disabled_reason IS NULL, "
                    "failing_since IS NULL, deleted_at IS NULL FROM webhook_endpoints "
                    "WHERE id = :id"
                ),
                id=values["id"],
            )
            assert row is not None
            assert [bool(v) for v in row] == [True] * 7
    for values in (by_raw, by_orm):
        assert await orm_endpoint(db, values["id"]) == as_utc(values)
        assert await raw_endpoint(db, values["id"]) == as_utc(values)


@pytest.mark.parametrize("column", ["created_at", "deleted_at"])
async def test_a_naive_datetime_is_refused_and_nothing_is_written(
    db: Database, tenant: Tenant, column: str
) -> None:
    naive = datetime(2026, 4, 6, 6, 23, 54)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="naive datetime given to a UTC column"):
        async with db.transaction() as session:
            await (await raw(session)).run(ENDPOINTS, **endpoint(tenant, **{column: naive}))

    async def compare_with_naive() -> None:
        async with db.transaction() as session:
            await (await raw(session)).run(ENDPOINTS, **endpoint(tenant))
            await (await raw(session)).all(
                Sql("SELECT id FROM webhook_endpoints WHERE created_at < :t"), t=naive
            )

    with pytest.raises(ValueError, match="naive datetime given to a UTC column"):
        await compare_with_naive()
    with pytest.raises(Exception, match="naive datetime given to a UTC column"):
        async with db.transaction() as session:
            session.add(WebhookEndpoint(**endpoint(tenant, **{column: naive})))
    assert await count_rows(db, "webhook_endpoints", tenant.workspace_id) == 0


async def test_the_first_and_last_moments_read_back_in_hand_written_sql(
    client: AsyncClient, db: Database, tenant: Tenant
) -> None:
    """PostgreSQL's driver stores 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z as
    -infinity and infinity and answers them as naive datetimes: still UTC."""
    kit = Kit(client, tenant)
    program = await kit.program()
    ada = await kit.promoter(program)
    await kit.rule(program, reward={"type": "fixed", "amount": "5"})
    first = await kit.purchase(
        external_id="p1",
        customer={"source_id": "bob"},
        amount="10.00",
        code=code_of(ada),
        occurred_at="0001-01-01T00:00:00Z",
    )
    assert first["occurred_at"] == "0001-01-01T00:00:00.000Z"
    # The customer's referral (referred at the purchase's time) is read back in SQL.
    second = await kit.purchase(external_id="p2", customer={"source_id": "bob"}, amount="10.00")
    assert second["referral_id"] == first["referral_id"]
    assert [r["amount"] for r in second["rewards"]] == [5]


def test_remembered_forms_of_ids_and_times_are_the_values_they_stand_for() -> None:
    moment = datetime(2026, 4, 6, 6, 23, 54, 120000, tzinfo=UTC)
    # Microseconds since 1970-01-01 UTC: 1775456634 seconds, and 120000 µs.
    assert _sqlite_value(moment) == 1_775_456_634_120_000
    # The same instant written in another zone is equal, and binds as the same integer.
    elsewhere = moment.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert _sqlite_value(elsewhere) == 1_775_456_634_120_000
    later = moment + timedelta(microseconds=1)
    assert _sqlite_value(later) == 1_775_456_634_120_001
    assert Raw.time_of(_sqlite_value(later)) == later
    # The first and last instants Goodwill stores, both ways.
    for edge in (
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ):
        assert Raw.time_of(_sqlite_value(edge)) == edge
    assert _sqlite_value(datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)) == -1
    # A naive time never equals an aware one: refused, even right after its aware twin.
    with pytest.raises(ValueError, match="naive datetime"):
        _sqlite_value(moment.replace(tzinfo=None))
    an_id = new_id()
    assert _sqlite_value(an_id) == an_id.bytes
    assert _sqlite_value(uuid.UUID(str(an_id))) == an_id.bytes
    other = new_id()
    assert _sqlite_value(other) == other.bytes != an_id.bytes
