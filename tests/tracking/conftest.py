from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from litestar import Litestar

from tests.conftest import Tenant
from tests.tracking.test_events_api import SEED_REQUEST

SEED_CODE = "46jL0kYI"  # the referral code of seed 003's example request
# Link codes are unique across the install (GET /r/{code} has no workspace), and the test
# database is shared by the run: the exact seed code belongs to the one test that replays the
# seed's example verbatim; every other test uses a code of its own.
EXACT_SEED_TEST = "test_seed_003_request_and_answer"


@pytest.fixture(autouse=True)
def seed_code(request: pytest.FixtureRequest) -> Iterator[str]:
    exact = request.node.name == EXACT_SEED_TEST
    code = SEED_CODE if exact else f"s3{uuid.uuid4().hex[:10]}"
    referral = SEED_REQUEST["referral"]
    assert isinstance(referral, dict)
    referral["code"] = code
    yield code
    referral["code"] = SEED_CODE


@pytest.fixture(autouse=True)
async def seed_referral_code(app: Litestar, tenant: Tenant, seed_code: str) -> None:
    """Seed 003's example names a referral code: the workspace has a promoter with it."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        program = await c.post(
            "/v1/programs",
            json={"kind": "referral", "name": "Friends", "currency": "EUR"},
            headers=tenant.headers,
        )
        assert program.status_code == 201, program.text
        promoter = await c.post(
            f"/v1/programs/{program.json()['id']}/promoters",
            json={
                "name": "Referrer",
                "code": seed_code,
                "destination_url": "https://shop.example/",
            },
            headers=tenant.headers,
        )
        assert promoter.status_code == 201, promoter.text
