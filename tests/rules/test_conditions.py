from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from goodwill.errors import ValidationFailed
from goodwill.rules.conditions import evaluate, parse, to_json

FACTS = {
    "amount": Decimal("50.00"),
    "currency": "EUR",
    "product_ids": ["p1", "p2"],
    "purchase_number": 1,
    "customer": {"metadata": {"tier": "gold", "vip": True}},
    "utm": {"utm_source": "newsletter"},
}


@pytest.mark.parametrize(
    ("tree", "holds"),
    [
        ({"field": "amount", "op": "gte", "value": "50"}, True),
        ({"field": "amount", "op": "gt", "value": 50}, False),
        ({"field": "amount", "op": "eq", "value": 50}, True),
        ({"field": "amount", "op": "lt", "value": "50.01"}, True),
        ({"field": "currency", "op": "in", "value": ["EUR", "USD"]}, True),
        ({"field": "currency", "op": "not_in", "value": ["EUR"]}, False),
        ({"field": "product_ids", "op": "contains", "value": "p2"}, True),
        ({"field": "product_ids", "op": "contains", "value": ["p9", "p1"]}, True),
        ({"field": "product_ids", "op": "contains", "value": "p3"}, False),
        ({"field": "customer.metadata.tier", "op": "eq", "value": "gold"}, True),
        ({"field": "customer.metadata.vip", "op": "eq", "value": True}, True),
        ({"field": "customer.metadata.vip", "op": "eq", "value": 1}, False),
        ({"field": "customer.metadata.missing", "op": "eq", "value": "x"}, False),
        ({"field": "customer.metadata.missing", "op": "ne", "value": "x"}, True),
        ({"field": "customer.metadata.missing", "op": "exists", "value": False}, True),
        ({"field": "utm.utm_source", "op": "exists", "value": True}, True),
        ({"field": "purchase_number", "op": "eq", "value": 1}, True),
        ({"all": []}, True),
        ({"any": []}, False),
        ({"not": {"field": "currency", "op": "eq", "value": "USD"}}, True),
        (
            {
                "any": [
                    {"field": "amount", "op": "gt", "value": 100},
                    {"all": [{"field": "currency", "op": "eq", "value": "EUR"}]},
                ]
            },
            True,
        ),
    ],
)
def test_evaluate(tree: dict, holds: bool) -> None:
    result, reason = evaluate(parse(tree), FACTS)
    assert result is holds
    assert (reason is None) is holds


def test_reasons_are_words() -> None:
    _, reason = evaluate(parse({"field": "amount", "op": "gte", "value": "100"}), FACTS)
    assert reason == "amount is 50.00, not ≥ 100"
    _, reason = evaluate(parse({"field": "currency", "op": "in", "value": ["USD"]}), FACTS)
    assert reason == "currency is 'EUR', not in ['USD']"


def test_every_problem_is_reported_with_its_path() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse(
            {
                "all": [
                    {"field": "amount", "op": "gte", "value": "lots"},
                    {"field": "", "op": "eq", "value": 1},
                    {"field": "x", "op": "in", "value": []},
                    {"any": {"field": "x"}},
                    "nope",
                ]
            }
        )
    params = [e.param for e in caught.value.errors]
    assert params == [
        "conditions.all[0].value",
        "conditions.all[1].field",
        "conditions.all[2].value",
        "conditions.all[3].any",
        "conditions.all[4]",
    ]


leaves = st.fixed_dictionaries(
    {
        "field": st.sampled_from(
            ["amount", "currency", "purchase_number", "customer.metadata.tier"]
        ),
        "op": st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte"]),
        "value": st.integers(-5, 200),
    }
)
trees = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.builds(lambda xs: {"all": xs}, st.lists(children, max_size=3)),
        st.builds(lambda xs: {"any": xs}, st.lists(children, max_size=3)),
        st.builds(lambda x: {"not": x}, children),
    ),
    max_leaves=8,
)


@given(trees)
def test_round_trip_and_negation(tree: dict) -> None:
    parsed = parse(tree)
    assert parse(to_json(parsed)) == parsed
    holds, _ = evaluate(parsed, FACTS)
    negated, _ = evaluate(parse({"not": tree}), FACTS)
    assert negated is (not holds)
