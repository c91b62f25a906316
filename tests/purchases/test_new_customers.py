"""A purchase by a customer it creates skips the lookups that could only find nothing: its
purchase count (the purchase is number 1) and its referral (it has none yet). A known
customer's purchase still makes them, as one statement (its history), and both kinds are
numbered and attributed right."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

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

    monkeypatch.setattr(attribution, "history_of", spy("history", attribution.history_of))
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
    assert looked_up == ["history"]  # the count and the referral together
    assert second["purchase_number"] == 2
    assert second["referral_id"] == first["referral_id"]
    assert second["explanation"]["attribution"]["status"] == "existing"


async def test_a_known_customer_without_a_referral_is_counted_and_left_unattributed(
    client: AsyncClient, tenant: Tenant
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    await kit.rule(program, name="5 off", reward={"type": "fixed", "amount": "5.00"})
    ada = await kit.promoter(program, name="Ada", email="ada@example.com")
    for n in (1, 2, 3):
        bought = await kit.purchase(
            external_id=f"c-{n}", customer={"source_id": "carol"}, amount="20.00"
        )
        assert (bought["purchase_number"], bought["referral_id"]) == (n, None)
        assert bought["explanation"]["attribution"]["status"] == "none"
    # referred on her fourth purchase: counted on, and attributed from then on
    fourth = await kit.purchase(
        external_id="c-4", customer={"source_id": "carol"}, amount="20.00", code=code_of(ada)
    )
    assert (fourth["purchase_number"], fourth["promoter_id"]) == (4, ada["id"])
    fifth = await kit.purchase(external_id="c-5", customer={"source_id": "carol"}, amount="20.00")
    assert (fifth["purchase_number"], fifth["referral_id"]) == (5, fourth["referral_id"])
    assert fifth["explanation"]["attribution"]["status"] == "existing"


@pytest.mark.parametrize("via", ["code", "link_id", "click_id"])
async def test_a_touch_s_promoter_comes_with_its_link(
    client: AsyncClient, tenant: Tenant, monkeypatch: pytest.MonkeyPatch, via: str
) -> None:
    """The link a purchase names is read with its promoter, so attributing a new referral
    looks nothing more up; the promoter's email and customer still refuse a self-referral."""
    kit = Kit(client, tenant)
    program = await kit.program()
    await kit.rule(program, name="5 off", reward={"type": "fixed", "amount": "5.00"})
    ada = await kit.promoter(program, name="Ada", email="ada@example.com")
    touch: dict[str, str] = {"code": code_of(ada)}
    if via == "link_id":
        touch = {"link_id": ada["default_link"]["id"]}
    elif via == "click_id":
        location = (await client.get(f"/r/{code_of(ada)}")).headers["location"]
        touch = {"click_id": location.rsplit("gw_click=", 1)[1].split("&")[0]}
    looked_up: list[str] = []
    real = attribution.promoter_ref

    async def spy(*args: Any, **kwargs: Any) -> Any:
        looked_up.append("promoter")
        return await real(*args, **kwargs)

    monkeypatch.setattr(attribution, "promoter_ref", spy)
    bob = await kit.purchase(
        external_id=f"{via}-1", customer={"source_id": "bob"}, amount="20.00", **touch
    )
    assert (bob["promoter_id"], bob["explanation"]["attribution"]["via"]) == (ada["id"], via)
    assert len(bob["rewards"]) == 1
    ada_herself = await kit.purchase(
        external_id=f"{via}-2",
        customer={"source_id": "ada", "email": "ADA@example.com"},
        amount="20.00",
        **touch,
    )
    assert ada_herself["explanation"]["attribution"]["code"] == "self_referral"
    assert ada_herself["rewards"] == []
    assert looked_up == []
