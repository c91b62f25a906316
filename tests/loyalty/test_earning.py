"""The pure earning rules: stamps per purchase, refunds, points per unit and rounding."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from goodwill.ids import new_id
from goodwill.loyalty.earning import (
    event_points,
    purchase_points,
    stamps_for,
    stamps_kept_after_refund,
)
from goodwill.loyalty.facts import EventFacts
from goodwill.programs.settings import (
    MAX_POINTS_PER_EARNING,
    EarningRule,
    PointsSettings,
    StampsSettings,
)
from tests.loyalty.helpers import item, purchase

CUSTOMER = uuid.UUID(int=1)
REWARD = {"description": "Free coffee"}


def stamps(**settings: object) -> StampsSettings:
    return StampsSettings(stamps_required=9, reward=REWARD, **settings)  # type: ignore[arg-type]


def test_one_stamp_per_qualifying_purchase() -> None:
    s = stamps(conditions={"field": "amount", "op": "gte", "value": "3.00"})
    assert stamps_for(s, "EUR", purchase(CUSTOMER, "3.00")) == (1, None)
    count, why = stamps_for(s, "EUR", purchase(CUSTOMER, "2.99"))
    assert count == 0
    assert why == "amount is 2.99, not ≥ 3.00"
    count, why = stamps_for(s, "EUR", purchase(CUSTOMER, "5.00", currency="USD"))
    assert (count, why) == (0, "the purchase is in USD, the program in EUR")


def test_per_item_stamps_count_qualifying_units_up_to_the_maximum() -> None:
    s = stamps(
        stamps_per_purchase="per_item",
        item_conditions={"field": "item_id", "op": "in", "value": ["latte", "espresso"]},
        max_stamps_per_purchase=4,
    )
    p = purchase(
        CUSTOMER,
        "12.00",
        items=(
            item("6.00", quantity=2, item_id="latte"),
            item("3.00", quantity=1, item_id="espresso"),
            item("3.00", quantity=3, item_id="cookie"),
        ),
    )
    assert stamps_for(s, "EUR", p) == (3, None)
    p = purchase(CUSTOMER, "15.00", items=(item("15.00", quantity=5, item_id="latte"),))
    assert stamps_for(s, "EUR", p) == (4, None)
    assert stamps_for(s, "EUR", purchase(CUSTOMER, "9.00")) == (
        0,
        "no item of the purchase qualifies",
    )


def test_purchase_conditions_see_products_items_and_customer_metadata() -> None:
    s = stamps(
        conditions={
            "all": [
                {"field": "product_ids", "op": "contains", "value": "prod-1"},
                {"field": "customer.metadata.tier", "op": "eq", "value": "gold"},
            ]
        }
    )
    p = purchase(
        CUSTOMER,
        "5.00",
        items=(item("5.00", product_id="prod-1"),),
        customer_metadata={"tier": "gold"},
    )
    assert stamps_for(s, "EUR", p) == (1, None)
    p = purchase(CUSTOMER, "5.00", items=(item("5.00", product_id="prod-2"),))
    assert stamps_for(s, "EUR", p)[0] == 0


@pytest.mark.parametrize(
    ("refunded", "fully", "kept"),
    [
        ("0.00", False, 1),
        ("1.00", False, 1),  # 4.00 left: still ≥ 3.00
        ("2.01", False, 0),  # 2.99 left: no longer qualifies
        ("5.00", False, 0),
        ("0.50", True, 0),  # a full refund always voids
    ],
)
def test_refund_keeps_a_one_stamp_while_the_purchase_still_qualifies(
    refunded: str, fully: bool, kept: int
) -> None:
    s = stamps(conditions={"field": "amount", "op": "gte", "value": "3.00"})
    p = purchase(CUSTOMER, "5.00")
    refunded_minor = int(Decimal(refunded) * 100)
    result = stamps_kept_after_refund(
        s, p, stamps_given=1, refunded_minor_total=refunded_minor, fully_refunded=fully
    )
    assert result == kept


def test_refund_of_per_item_stamps_keeps_the_paid_share_rounded_down() -> None:
    s = stamps(stamps_per_purchase="per_item")
    p = purchase(CUSTOMER, "9.00", items=(item("9.00", quantity=3),))
    kept = [
        stamps_kept_after_refund(s, p, stamps_given=3, refunded_minor_total=r, fully_refunded=False)
        for r in (0, 299, 300, 301, 600, 899, 900)
    ]
    assert kept == [3, 2, 2, 1, 1, 0, 0]


def points(*rules: dict[str, object], **settings: object) -> PointsSettings:
    return PointsSettings(
        earning_rules=[EarningRule(**r) for r in rules],  # type: ignore[arg-type]
        **settings,  # type: ignore[arg-type]
    )


def test_points_per_unit_round_down_or_half_even() -> None:
    floor = points({"trigger": "purchase", "points_per_unit": Decimal("1.5")})
    even = points(
        {"trigger": "purchase", "points_per_unit": Decimal("1.5"), "rounding": "half_even"}
    )
    for amount, want_floor, want_even in [
        ("10.00", 15, 15),
        ("10.99", 16, 16),  # 16.485
        ("11.00", 16, 16),  # 16.5 → 16 (even)
        ("13.00", 19, 20),  # 19.5 → 20 (even)
        ("0.50", 0, 1),  # 0.75
    ]:
        p = purchase(CUSTOMER, amount)
        got_floor, _ = purchase_points(floor, "EUR", p)
        got_even, _ = purchase_points(even, "EUR", p)
        assert sum(e.points for e in got_floor) == want_floor, amount
        assert sum(e.points for e in got_even) == want_even, amount


def test_points_rules_add_up_and_explain_what_did_not_apply() -> None:
    s = points(
        {"trigger": "purchase", "points_per_unit": Decimal(1)},
        {
            "trigger": "purchase",
            "fixed_points": 50,
            "conditions": {"field": "amount", "op": "gte", "value": 100},
        },
        {"trigger": "signed_up", "fixed_points": 10},
    )
    earned, why = purchase_points(s, "EUR", purchase(CUSTOMER, "120.00"))
    assert [(e.rule_index, e.points) for e in earned] == [(0, 120), (1, 50)]
    assert why is None
    earned, _ = purchase_points(s, "EUR", purchase(CUSTOMER, "20.00"))
    assert [(e.rule_index, e.points) for e in earned] == [(0, 20)]
    earned, why = purchase_points(s, "EUR", purchase(CUSTOMER, "0.50"))
    assert earned == []
    assert why == "rule 0: rounds to 0 points; rule 1: amount is 0.50, not ≥ 100"
    assert purchase_points(s, "JPY", purchase(CUSTOMER, "20.00"))[0] == []


def test_event_rules_match_the_name_and_event_metadata() -> None:
    s = points(
        {
            "trigger": "review_posted",
            "fixed_points": 25,
            "conditions": {"field": "event.metadata.stars", "op": "gte", "value": 4},
        },
        {"trigger": "purchase", "points_per_unit": Decimal(1)},
    )

    def facts(name: str, metadata: dict[str, object]) -> EventFacts:
        return EventFacts(event_id=new_id(), name=name, customer_id=CUSTOMER, metadata=metadata)

    earned, _ = event_points(s, facts("review_posted", {"stars": 5}))
    assert [(e.rule_index, e.points) for e in earned] == [(0, 25)]
    earned, why = event_points(s, facts("review_posted", {"stars": 3}))
    assert earned == []
    assert why == "rule 0: event.metadata.stars is 3, not ≥ 4"
    earned, why = event_points(s, facts("purchase", {}))
    assert earned == []
    assert why == "no earning rule for 'purchase'"


@given(
    amount=st.integers(min_value=0, max_value=10**9),
    rate=st.decimals(min_value=Decimal("0.000001"), max_value=1000, places=6),
)
def test_points_are_never_more_than_the_exact_product(amount: int, rate: Decimal) -> None:
    s = points({"trigger": "purchase", "points_per_unit": rate})
    p = purchase(CUSTOMER, str(Decimal(amount) / 100))
    earned, _ = purchase_points(s, "EUR", p)
    got = sum(e.points for e in earned)
    exact = Decimal(amount) / 100 * rate
    assert got <= exact < got + 1


def test_one_earning_is_at_most_the_cap_all_rules_together() -> None:
    top = purchase(CUSTOMER, "10000000000000.00")  # the largest amount: 10^15 cents
    s = points({"trigger": "purchase", "points_per_unit": Decimal(1_000_000)})
    earned, why = purchase_points(s, "EUR", top)
    assert [(e.rule_index, e.points) for e in earned] == [(0, MAX_POINTS_PER_EARNING)]
    assert why is None
    s = points(
        {"trigger": "purchase", "points_per_unit": Decimal(100)},
        {"trigger": "purchase", "points_per_unit": Decimal(1000)},
        {"trigger": "purchase", "fixed_points": 5},
    )
    earned, _ = purchase_points(s, "EUR", top)
    # 10^15 from the first rule fills the cap: the next rules give nothing more
    assert [(e.rule_index, e.points) for e in earned] == [(0, MAX_POINTS_PER_EARNING)]
    earned, _ = purchase_points(s, "EUR", purchase(CUSTOMER, "9999999999999.99"))
    assert [(e.rule_index, e.points) for e in earned] == [
        (0, 999_999_999_999_999),
        (1, 1),
    ]
    below = purchase(CUSTOMER, "1000000.00")
    earned, _ = purchase_points(s, "EUR", below)
    assert [(e.rule_index, e.points) for e in earned] == [
        (0, 100_000_000),
        (1, 1_000_000_000),
        (2, 5),
    ]
