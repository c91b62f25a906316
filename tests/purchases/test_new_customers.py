"""A purchase by a customer it creates skips the lookups that could only find nothing: its
purchase count (the purchase is number 1) and its referral (it has none yet). A known
customer's purchase still makes them, and both kinds are numbered and attributed right."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from goodwill.purchases import service as purchases
from goodwill.referrals import attribution
from tests.conftest import Tenant
from tests.kit import Kit, code_of


async def test_a_new_customer_s_purchase_skips_the_lookups_an_existing_one_makes(
    client: AsyncClient, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    await kit.rule(program, name="5 off", reward={"type": "fixed", "amount": "5.00"})
    ada = await kit.promoter(program, name="Ada", email="ada@example.com")
    looked_up: list[str] = []

    def spy(name: str, real: Any) -> Any:
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            looked_up.append(name)
            return await real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(purchases, "_purchase_number", spy("number", purchases._purchase_number))
    monkeypatch.setattr(
        attribution,
        "_referral_and_promoter",
        spy("referral", attribution._referral_and_promoter),
    )
    first = await kit.purchase(
        external_id="o-1", customer={"source_id": "bob"}, amount="20.00", code=code_of(ada)
    )
    assert looked_up == []
    assert (first["purchase_number"], first["promoter_id"]) == (1, ada["id"])
    assert first["explanation"]["attribution"]["status"] == "referred"
    second = await kit.purchase(external_id="o-2", customer={"source_id": "bob"}, amount="20.00")
    assert looked_up == ["number", "referral"]
    assert second["purchase_number"] == 2
    assert second["referral_id"] == first["referral_id"]
    assert second["explanation"]["attribution"]["status"] == "existing"
