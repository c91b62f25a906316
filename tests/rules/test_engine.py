"""The pure rules engine: every check at its edge, and properties over random rule sets."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from goodwill.rules.conditions import parse
from goodwill.rules.engine import (
    Block,
    Counters,
    Occurrence,
    PromoterLimit,
    RewardSpec,
    Rule,
    decide,
    period_end,
    period_start,
)

NOW = datetime(2026, 4, 6, 6, 23, 54, 793000, tzinfo=UTC)
FIXED = RewardSpec("fixed", amount_minor=1000)


def rule(**kw: object) -> Rule:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "name": "r",
        "trigger": "purchase",
        "reward": FIXED,
    }
    values.update(kw)
    return Rule(**values)  # type: ignore[arg-type]


def occurrence(**kw: object) -> Occurrence:
    values: dict[str, object] = {
        "trigger": "purchase",
        "at": NOW,
        "now": NOW,
        "program_status": "active",
        "program_currency": "EUR",
        "amount_minor": 10_000,
        "currency": "EUR",
        "referred_at": NOW - timedelta(days=3),
        "facts": {"amount": Decimal("100.00")},
    }
    values.update(kw)
    return Occurrence(**values)  # type: ignore[arg-type]


def test_a_fixed_reward_fires_with_its_hold() -> None:
    r = rule(hold_days=30)
    [d] = decide(occurrence(), [r])
    assert d.fired
    assert (d.code, d.amount, d.unit) == ("fired", 1000, "EUR")
    assert d.hold_until == NOW + timedelta(days=30)


@pytest.mark.parametrize(
    ("currency", "amount", "percent", "expected"),
    [
        ("EUR", 1005, "10", 100),  # 100.5 cents: half-even to 100
        ("EUR", 1015, "10", 102),  # 101.5 cents: half-even to 102
        ("JPY", 1005, "10", 100),  # 0 decimals: 100.5 yen → 100
        ("JPY", 1015, "10", 102),
        ("KWD", 1234, "12.5", 154),  # 3 decimals: 154.25 fils → 154
        ("BHD", 1236, "12.5", 154),  # 154.5 fils → 154
        ("BHD", 1244, "12.5", 156),  # 155.5 fils → 156
    ],
)
def test_percentages_round_half_even_to_the_minor_unit(
    currency: str, amount: int, percent: str, expected: int
) -> None:
    r = rule(reward=RewardSpec("percentage", percent=Decimal(percent)))
    [d] = decide(occurrence(amount_minor=amount, currency=currency, program_currency=currency), [r])
    assert d.amount == expected
    assert d.unit == currency


def test_a_cap_limits_a_percentage() -> None:
    r = rule(reward=RewardSpec("percentage", percent=Decimal(10), cap_minor=3000))
    [at_cap] = decide(occurrence(amount_minor=30_000), [r])
    assert (at_cap.amount, at_cap.capped) == (3000, False)
    [over] = decide(occurrence(amount_minor=30_010), [r])
    assert (over.amount, over.capped) == (3000, True)


def test_points_are_their_own_unit() -> None:
    [d] = decide(occurrence(), [rule(reward=RewardSpec("points", points=50))])
    assert (d.amount, d.unit) == (50, "points")


def test_the_window_after_the_referral_includes_its_last_millisecond() -> None:
    referred = NOW - timedelta(days=30)
    r = rule(window_days=30)
    [inside] = decide(occurrence(referred_at=referred), [r])
    assert inside.fired
    [outside] = decide(occurrence(referred_at=referred - timedelta(milliseconds=1)), [r])
    assert outside.code == "outside_window"
    assert outside.reason is not None
    assert "30 days" in outside.reason


def test_limits_per_referral_at_their_edge() -> None:
    r = rule(per_referral=2)
    [below] = decide(occurrence(), [r], Counters(per_referral={r.id: 1}))
    assert below.fired
    [at] = decide(occurrence(), [r], Counters(per_referral={r.id: 2}))
    assert at.code == "limit_reached"


def test_a_promoter_total_grants_what_remains_then_stops() -> None:
    limit = PromoterLimit("month", max_amount=2500)
    r = rule(promoter_limit=limit)
    [partly] = decide(occurrence(), [r], Counters(per_promoter={r.id: (2, 2000)}))
    assert (partly.fired, partly.amount, partly.capped) == (True, 500, True)
    [exactly] = decide(occurrence(), [r], Counters(per_promoter={r.id: (2, 1500)}))
    assert (exactly.amount, exactly.capped) == (1000, False)
    [none] = decide(occurrence(), [r], Counters(per_promoter={r.id: (3, 2500)}))
    assert none.code == "promoter_limit_reached"
    counted = rule(promoter_limit=PromoterLimit("day", max_count=3))
    [third] = decide(occurrence(), [counted], Counters(per_promoter={counted.id: (2, 0)}))
    assert third.fired
    [fourth] = decide(occurrence(), [counted], Counters(per_promoter={counted.id: (3, 0)}))
    assert fourth.code == "promoter_limit_reached"


def test_periods_start_on_utc_calendar_boundaries() -> None:
    at = datetime(2026, 4, 8, 13, 5, tzinfo=UTC)  # a Wednesday
    assert period_start(at, "day") == datetime(2026, 4, 8, tzinfo=UTC)
    assert period_start(at, "week") == datetime(2026, 4, 6, tzinfo=UTC)
    assert period_start(at, "month") == datetime(2026, 4, 1, tzinfo=UTC)
    assert period_start(at, "year") == datetime(2026, 1, 1, tzinfo=UTC)
    assert period_start(at, "lifetime") is None
    december = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    start = period_start(december, "month")
    assert start is not None
    assert period_end(start, "month") == datetime(2027, 1, 1, tzinfo=UTC)
    assert period_end(datetime(2026, 4, 1, tzinfo=UTC), "month") == datetime(2026, 5, 1, tzinfo=UTC)
    assert period_end(datetime(2026, 4, 6, tzinfo=UTC), "week") == datetime(2026, 4, 13, tzinfo=UTC)
    assert period_end(datetime(2026, 1, 1, tzinfo=UTC), "year") == datetime(2027, 1, 1, tzinfo=UTC)


def test_reasons_in_order() -> None:
    purchase_rule = rule()
    lead_rule = rule(trigger="lead")
    cond = rule(condition=parse({"field": "amount", "op": "gte", "value": "500"}))
    decisions = decide(occurrence(), [purchase_rule, lead_rule, cond])
    assert [d.code for d in decisions] == ["fired", "other_trigger", "condition_false"]
    assert decisions[2].reason == "amount is 100.00, not ≥ 500"

    paused = decide(occurrence(program_status="paused"), [purchase_rule, lead_rule])
    assert [d.code for d in paused] == ["program_paused", "other_trigger"]
    blocked = decide(occurrence(block=Block("self_referral", "self")), [purchase_rule])
    assert [(d.code, d.reason) for d in blocked] == [("self_referral", "self")]
    other_currency = decide(occurrence(currency="USD"), [purchase_rule])
    assert other_currency[0].code == "currency_mismatch"
    zero = decide(
        occurrence(amount_minor=4), [rule(reward=RewardSpec("percentage", percent=Decimal(10)))]
    )
    assert zero[0].code == "zero_reward"  # 0.4 cents rounds to 0
    no_amount = decide(
        occurrence(trigger="custom:x", amount_minor=None, currency=None),
        [rule(trigger="custom:x", reward=RewardSpec("percentage", percent=Decimal(10)))],
    )
    assert no_amount[0].code == "no_amount"


def test_an_exclusive_group_pays_only_its_best_and_ties_go_to_the_first() -> None:
    small = rule(name="small", exclusive_group="g", reward=RewardSpec("fixed", amount_minor=500))
    big = rule(name="big", exclusive_group="g", reward=RewardSpec("fixed", amount_minor=900))
    free = rule(name="free", reward=RewardSpec("fixed", amount_minor=100))
    decisions = decide(occurrence(), [small, big, free])
    assert [(d.rule_name, d.fired) for d in decisions] == [
        ("small", False),
        ("big", True),
        ("free", True),
    ]
    assert decisions[0].code == "exclusive_group"
    assert decisions[0].reason == "in exclusive group 'g', rule 'big' pays more"
    twin = rule(name="twin", exclusive_group="g", reward=RewardSpec("fixed", amount_minor=900))
    tied = decide(occurrence(), [big, twin])
    assert [d.fired for d in tied] == [True, False]
    # a rule of the group that does not match leaves the others to compete
    failing = rule(
        name="failing",
        exclusive_group="g",
        reward=RewardSpec("fixed", amount_minor=9999),
        condition=parse({"field": "amount", "op": "gt", "value": 1000}),
    )
    decisions = decide(occurrence(), [failing, small])
    assert [(d.code, d.fired) for d in decisions] == [("condition_false", False), ("fired", True)]


rewards = st.one_of(
    st.builds(lambda a: RewardSpec("fixed", amount_minor=a), st.integers(1, 10_000)),
    st.builds(
        lambda p, c: RewardSpec("percentage", percent=Decimal(p) / 4, cap_minor=c),
        st.integers(1, 400),
        st.none() | st.integers(1, 5_000),
    ),
    st.builds(lambda p: RewardSpec("points", points=p), st.integers(1, 500)),
)
rules = st.builds(
    lambda reward, trigger, group, per_referral, window, limit, threshold: rule(
        reward=reward,
        trigger=trigger,
        exclusive_group=group,
        per_referral=per_referral,
        window_days=window,
        promoter_limit=limit,
        condition=parse({"field": "amount", "op": "gte", "value": threshold}),
    ),
    rewards,
    st.sampled_from(["purchase", "purchase", "lead"]),
    st.none() | st.sampled_from(["a", "b"]),
    st.none() | st.integers(1, 3),
    st.none() | st.integers(0, 10),
    st.none() | st.builds(lambda m: PromoterLimit("month", max_amount=m), st.integers(1, 20_000)),
    st.integers(0, 200),
)


@given(
    st.lists(rules, max_size=8),
    st.integers(0, 100_000),
    st.integers(0, 20),
    st.integers(0, 4),
    st.integers(0, 20_000),
)
def test_properties_of_any_rule_set(
    rule_set: list[Rule], amount: int, days: int, granted: int, promoter_total: int
) -> None:
    occ = occurrence(
        amount_minor=amount,
        facts={"amount": Decimal(amount) / 100},
        referred_at=NOW - timedelta(days=days),
    )
    counters = Counters(
        per_referral={r.id: granted for r in rule_set},
        per_promoter={r.id: (granted, promoter_total) for r in rule_set},
    )
    decisions = decide(occ, rule_set, counters)
    assert decisions == decide(occ, rule_set, counters)  # deterministic
    assert [d.rule_id for d in decisions] == [r.id for r in rule_set]
    groups: dict[str, int] = {}
    for r, d in zip(rule_set, decisions, strict=True):
        assert d.fired == (d.code == "fired")
        assert (d.reason is None) == d.fired
        if not d.fired:
            continue
        groups[r.exclusive_group or str(r.id)] = groups.get(r.exclusive_group or str(r.id), 0) + 1
        assert r.trigger == "purchase"
        assert d.amount > 0
        assert amount >= int(r.condition.value * 100)  # type: ignore[union-attr]
        if r.reward.cap_minor is not None:
            assert d.amount <= r.reward.cap_minor
        if r.per_referral is not None:
            assert granted < r.per_referral
        if r.window_days is not None:
            assert days <= r.window_days
        if r.promoter_limit is not None:
            assert r.promoter_limit.max_amount is not None
            assert promoter_total + d.amount <= r.promoter_limit.max_amount
    assert all(n == 1 for n in groups.values())
