"""Amounts sent as JSON numbers are read from their digits, never through a binary float."""

from __future__ import annotations

from httpx import AsyncClient

from goodwill.db import Database
from tests.conftest import Tenant, count_rows, error_of
from tests.kit import Kit, code_of

# As JSON numbers these are exact decimals; as binary floats they would be 1.0 and
# 33.333333333333336.
TOO_PRECISE = "1.0000000000000001"
A_THIRD = "33.33333333333333333"


def body(**fields: str) -> bytes:
    return ("{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}").encode()


async def test_an_amount_with_more_digits_than_a_float_holds_is_refused(
    client: AsyncClient, tenant: Tenant, db: Database
) -> None:
    headers = {**tenant.headers, "Content-Type": "application/json"}
    r = await client.post(
        "/v1/purchases",
        content=body(
            external_id='"n1"',
            customer='{"source_id": "c"}',
            amount=TOO_PRECISE,
            currency='"EUR"',
        ),
        headers=headers,
    )
    assert r.status_code == 422, r.text
    error = error_of(r)
    assert error["param"] == "amount"
    assert error["message"] == (
        f"amount: {TOO_PRECISE} has more than 2 decimal places, the minor unit of EUR"
    )
    assert await count_rows(db, "purchases", tenant.workspace_id) == 0
    assert await count_rows(db, "customers", tenant.workspace_id) == 0


async def test_numbers_keep_every_digit_on_the_money_path(
    client: AsyncClient, tenant: Tenant
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program("KWD")
    headers = {**tenant.headers, "Content-Type": "application/json"}
    r = await client.post(
        f"/v1/programs/{program['id']}/rules",
        content=body(
            name='"a third"',
            trigger='"purchase"',
            reward=f'{{"type": "percentage", "percent": {A_THIRD}, "cap": 1000.125}}',
            hold_days="0",
        ),
        headers=headers,
    )
    assert r.status_code == 201, r.text
    assert f'"percent":{A_THIRD},' in r.text
    assert '"cap":1000.125' in r.text
    ada = await kit.promoter(program)
    r = await client.post(
        "/v1/purchases",
        content=body(
            external_id='"n2"',
            customer='{"source_id": "c", "metadata": {"score": 0.1}}',
            amount="3000000000.003",
            currency='"KWD"',
            code=f'"{code_of(ada)}"',
            items='[{"item_id": "a", "amount": 3000000000.003}]',
        ),
        headers=headers,
    )
    assert r.status_code == 201, r.text
    assert '"amount":3000000000.003,' in r.text
    # 33.33333333333333333% of 3000000000.003 is 1000000000.0009999…, capped at 1000.125
    assert '"amount":1000.125,' in r.text
    customer = await kit.get(f"/v1/customers/{r.json()['customer_id']}")
    assert customer["metadata"] == {"score": 0.1}  # free-form numbers stay plain numbers
