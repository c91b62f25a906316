"""Balances equal the sum of the ledger after any sequence of purchases, refunds, approvals,
voids, hold periods ending and payouts (a Hypothesis state machine over the services)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from sqlalchemy import case, func, select

from goodwill.db import Database
from goodwill.errors import Conflict
from goodwill.money import prorate
from goodwill.payouts import service as payouts
from goodwill.payouts.models import Payout
from goodwill.payouts.schemas import PayoutCreate
from goodwill.programs import service as programs
from goodwill.programs.schemas import ProgramCreate
from goodwill.promoters import service as promoters
from goodwill.promoters.schemas import PromoterCreate
from goodwill.purchases import refunds
from goodwill.purchases import service as purchases
from goodwill.purchases.models import Purchase
from goodwill.purchases.schemas import PurchaseCreate, RefundCreate
from goodwill.referrals.schemas import CustomerRef
from goodwill.rewards import ledger as reward_ledger
from goodwill.rewards import service as rewards
from goodwill.rewards.models import Reward
from goodwill.rules import service as rules
from goodwill.rules.schemas import LimitsIn, PromoterLimitIn, RewardIn, RuleCreate
from goodwill.settings import Settings
from goodwill.workspaces import service as workspaces
from tests.conftest import FakeClock

T = TypeVar("T")
SOURCE = "urn:test:ledger"


class LedgerMachine(RuleBasedStateMachine):
    database_url = ""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.db = Database(
            Settings(
                database_url=self.database_url, log_level="warning", sqlite_synchronous="NORMAL"
            )
        )
        self.clock = FakeClock()
        self.purchase_ids: list[uuid.UUID] = []
        self.promoter_ids: list[uuid.UUID] = []
        self.codes: list[str] = []
        self.customer_ids: set[uuid.UUID] = set()
        self.n = 0

    def run(self, coro: Awaitable[T]) -> T:
        return self.loop.run_until_complete(coro)  # type: ignore[arg-type]

    def teardown(self) -> None:
        self.run(self.db.dispose())
        self.loop.close()

    @initialize()
    def program(self) -> None:
        async def go() -> None:
            now = self.clock()
            async with self.db.transaction() as session:
                ws = await workspaces.create_workspace(session, "Ledger", now)
                self.workspace_id = ws.id
                program = await programs.create(
                    session,
                    ws.id,
                    ProgramCreate(
                        kind="referral",
                        name="P",
                        currency="EUR",
                        settings={"destination_url": "https://shop.example/"},
                    ),
                    now,
                )
                for body in (
                    RuleCreate(
                        name="10% up to 50",
                        trigger="purchase",
                        reward=RewardIn(type="percentage", percent=Decimal(10), cap=Decimal(50)),
                        hold_days=5,
                    ),
                    RuleCreate(
                        name="2 flat, 9 a month",
                        trigger="purchase",
                        reward=RewardIn(type="fixed", amount=Decimal(2)),
                        hold_days=0,
                        limits=LimitsIn(
                            per_promoter=PromoterLimitIn(period="month", max_amount=Decimal(9))
                        ),
                    ),
                    RuleCreate(
                        name="friend gets 1",
                        trigger="purchase",
                        reward=RewardIn(type="fixed", amount=Decimal(1)),
                        beneficiary="referred_customer",
                        hold_days=3,
                    ),
                ):
                    await rules.create(session, ws.id, program.id, body, now)
                for name in ("A", "B"):
                    promoter, link = await promoters.create(
                        session, ws.id, program.id, PromoterCreate(name=name), now
                    )
                    self.promoter_ids.append(promoter.id)
                    self.codes.append(link.code)

        self.run(go())
        # Every example starts where the interesting sequences begin: paid rewards (which a
        # refund claws back), approved ones waiting for a payout, pending ones in their hold.
        self.purchase(promoter=0, customer=0, cents=12_345)
        self.purchase(promoter=1, customer=1, cents=70_000)
        self.time_passes(days=6)
        self.payout(who="program", minimum=0)
        self.purchase(promoter=0, customer=2, cents=999)
        self.purchase(promoter=1, customer=3, cents=40_000)

    @rule(
        promoter=st.integers(0, 1),
        customer=st.integers(0, 3),
        cents=st.integers(0, 80_000),
    )
    def purchase(self, promoter: int, customer: int, cents: int) -> None:
        self.n += 1
        data = PurchaseCreate(
            external_id=f"o{self.n}",
            customer=CustomerRef(source_id=f"c{customer}"),
            amount=Decimal(cents) / 100,
            currency="EUR",
            code=self.codes[promoter],
        )

        async def go() -> None:
            async with self.db.transaction() as session:
                recorded = await purchases.record(
                    session,
                    self.workspace_id,
                    data,
                    now=self.clock(),
                    source=SOURCE,
                    event_type_prefix="goodwill",
                )
            self.purchase_ids.append(recorded.purchase.id)
            self.customer_ids.add(recorded.customer_id)

        self.run(go())

    @precondition(lambda self: self.purchase_ids)
    @rule(pick=st.integers(0, 1000), share=st.none() | st.integers(1, 100))
    def refund(self, pick: int, share: int | None) -> None:
        purchase_id = self.purchase_ids[pick % len(self.purchase_ids)]

        async def go() -> None:
            async with self.db.transaction() as session:
                purchase = await session.get(Purchase, purchase_id)
                assert purchase is not None
                remaining = purchase.amount_minor - purchase.refunded_minor
                if purchase.status == "refunded":
                    return
                amount = None
                if share is not None and remaining > 0:
                    amount = Decimal(max(1, remaining * share // 100)) / 100
                await refunds.refund(
                    session,
                    self.workspace_id,
                    purchase_id,
                    RefundCreate(amount=amount),
                    now=self.clock(),
                    source=SOURCE,
                )

        self.run(go())

    def _reward_ids(self) -> list[uuid.UUID]:
        async def go() -> list[uuid.UUID]:
            async with self.db.transaction(write=False) as session:
                stmt = (
                    select(Reward.id)
                    .where(Reward.workspace_id == self.workspace_id)
                    .order_by(Reward.id)
                )
                return list((await session.scalars(stmt)).all())

        return self.run(go())

    @rule(pick=st.integers(0, 1000), approve=st.booleans())
    def approve_or_void(self, pick: int, approve: bool) -> None:
        ids = self._reward_ids()
        if not ids:
            return
        reward_id = ids[pick % len(ids)]

        async def go() -> None:
            try:
                async with self.db.transaction() as session:
                    if approve:
                        await rewards.approve(
                            session, self.workspace_id, reward_id, self.clock(), SOURCE
                        )
                    else:
                        await rewards.void(
                            session,
                            self.workspace_id,
                            reward_id,
                            reason="test",
                            now=self.clock(),
                            source=SOURCE,
                        )
            except Conflict:
                pass  # approving a voided reward, voiding a paid one: refused, nothing written

        self.run(go())

    @rule(days=st.integers(1, 6))
    def time_passes(self, days: int) -> None:
        self.clock.advance(days=days)

        async def go() -> None:
            async with self.db.transaction() as session:
                await rewards.approve_due(session, self.clock(), workspace_id=self.workspace_id)

        self.run(go())

    @rule(
        who=st.sampled_from(["A", "B", "customer", "program"]),
        minimum=st.just(0) | st.integers(0, 30),
    )
    def payout(self, who: str, minimum: int) -> None:
        if who == "customer":
            if not self.customer_ids:
                return
            data = PayoutCreate(customer_id=sorted(self.customer_ids)[0])
        elif who == "program":
            data = PayoutCreate(program_id=self._program_id(), minimum=Decimal(minimum))
        else:
            data = PayoutCreate(
                promoter_id=self.promoter_ids["AB".index(who)], minimum=Decimal(minimum)
            )

        async def go() -> None:
            async with self.db.transaction() as session:
                await payouts.create(session, self.workspace_id, data, self.clock(), SOURCE)

        self.run(go())

    def _program_id(self) -> uuid.UUID:
        async def go() -> uuid.UUID:
            async with self.db.transaction(write=False) as session:
                promoter = await promoters.get(session, self.workspace_id, self.promoter_ids[0])
                return promoter.program_id

        return self.run(go())

    @invariant()
    def balances_are_the_sum_of_the_ledger(self) -> None:
        if not self.promoter_ids:
            return
        self.run(self._check())

    async def _check(self) -> None:
        ws = self.workspace_id
        r_, p_, pu = Reward, Payout, Purchase
        # the whole ledger: each reward its own earned entry, with every later movement
        e = reward_ledger.entries(ws).subquery().c
        async with self.db.transaction(write=False) as session:
            sums = (
                await session.execute(
                    select(
                        e.account_type, e.account_id, e.unit, e.bucket, func.sum(e.amount_minor)
                    ).group_by(e.account_type, e.account_id, e.unit, e.bucket)
                )
            ).all()
            unpaid = case((e.bucket.in_(("pending", "approved")), e.amount_minor), else_=0)
            per_reward = {
                reward_id: (int(total), int(unpaid_total))
                for reward_id, total, unpaid_total in (
                    await session.execute(
                        select(e.reward_id, func.sum(e.amount_minor), func.sum(unpaid))
                        .where(e.reward_id.is_not(None))
                        .group_by(e.reward_id)
                    )
                ).all()
            }
            all_rewards = (
                await session.execute(
                    select(
                        r_.id,
                        r_.beneficiary,
                        r_.customer_id,
                        r_.promoter_id,
                        r_.unit,
                        r_.amount_minor,
                        r_.reversed_minor,
                        r_.status,
                        r_.paid_at,
                        r_.purchase_id,
                    ).where(r_.workspace_id == ws)
                )
            ).all()
            all_payouts = (
                await session.execute(
                    select(
                        p_.account_type,
                        p_.promoter_id,
                        p_.customer_id,
                        p_.currency,
                        p_.amount_minor,
                        p_.rewards_minor,
                        p_.clawback_minor,
                    ).where(p_.workspace_id == ws)
                )
            ).all()
            all_purchases = {
                row.id: row
                for row in (
                    await session.execute(
                        select(pu.id, pu.status, pu.amount_minor, pu.refunded_minor).where(
                            pu.workspace_id == ws
                        )
                    )
                ).all()
            }
            ledger: dict[tuple[str, uuid.UUID, str], dict[str, int]] = {}
            for account_type, account_id, unit, bucket, total in sums:
                ledger.setdefault((account_type, account_id, unit), {})[bucket] = int(total)
            shown: dict[tuple[str, uuid.UUID, str], Any] = {}
            accounts = sorted({(k[0], k[1]) for k in ledger})
            # the balances the API shows: the promoters' and one customer's, each step
            for account_type, account_id in accounts[:1] + accounts[-2:]:
                for balance in await rewards.balances(session, ws, account_type, account_id):
                    shown[(account_type, account_id, balance.unit)] = balance

        expected: dict[tuple[str, uuid.UUID, str], dict[str, int]] = {}
        for r in all_rewards:
            key = (
                ("customer", r.customer_id, r.unit)
                if r.beneficiary == "referred_customer"
                else ("promoter", r.promoter_id, r.unit)
            )
            sums_of = expected.setdefault(key, {"pending": 0, "approved": 0, "paid_net": 0})
            net = r.amount_minor - r.reversed_minor
            assert 0 <= net <= r.amount_minor
            if r.status == "voided":
                # a voided reward is never payable: its entries cancel out
                assert per_reward.get(r.id, (0, 0)) == (0, 0)
                assert r.paid_at is None
                continue
            sums_of["paid_net" if r.status == "paid" else r.status] += net
            purchase = all_purchases[r.purchase_id] if r.purchase_id else None
            if purchase is None:
                continue
            if purchase.status == "refunded":
                # refunded in full: nothing it caused remains payable
                assert r.status == "paid"
                assert net == 0
            else:  # reversed in proportion to what was refunded, counted from the total
                assert r.reversed_minor == prorate(
                    r.amount_minor, purchase.refunded_minor, purchase.amount_minor
                )
        paid_out: dict[tuple[str, uuid.UUID, str], int] = {}
        for p in all_payouts:
            account = p.promoter_id if p.account_type == "promoter" else p.customer_id
            assert account is not None
            key = (p.account_type, account, p.currency)
            paid_out[key] = paid_out.get(key, 0) + p.amount_minor
            assert p.amount_minor == p.rewards_minor - p.clawback_minor > 0

        for key in set(ledger) | set(expected):
            buckets = ledger.get(key, {})
            sums_of = expected.get(key, {"pending": 0, "approved": 0, "paid_net": 0})
            pending = buckets.get("pending", 0)
            approved = buckets.get("approved", 0)
            paid = buckets.get("paid", 0)
            clawback = buckets.get("clawback", 0)
            assert pending == sums_of["pending"], key
            assert approved == sums_of["approved"], key
            assert paid == paid_out.get(key, 0), key
            assert paid + clawback == sums_of["paid_net"], key
            assert clawback <= 0
            if key in shown:
                balance = shown[key]
                unit = key[2]

                def minor(value: Any, unit: str = unit) -> int:
                    return int(value) if unit == "points" else int(Decimal(value) * 100)

                assert minor(balance.pending) == pending
                assert minor(balance.approved) == approved
                assert minor(balance.paid) == paid
                assert minor(balance.clawback_outstanding) == clawback
                assert minor(balance.payable) == max(0, approved + clawback)
        for purchase in all_purchases.values():
            assert 0 <= purchase.refunded_minor <= purchase.amount_minor


@pytest.mark.slow
def test_balances_equal_the_sum_of_entries(database_url: str) -> None:
    LedgerMachine.database_url = database_url
    machine = LedgerMachine.TestCase
    machine.settings = settings(
        max_examples=25,
        stateful_step_count=15,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    machine().runTest()
