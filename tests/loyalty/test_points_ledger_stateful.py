"""Any sequence of earn, redeem, reverse, refund, expire and time passing keeps the ledger
sound: the balances are the sums of the rows, no lot goes negative, and a fully refunded
purchase leaves nothing to spend."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from goodwill.db import Database
from goodwill.errors import Conflict
from goodwill.loyalty import points, redemptions
from goodwill.loyalty.cards import CardRepository
from goodwill.loyalty.facts import PurchaseFacts
from goodwill.loyalty.models import PointsEntry
from goodwill.loyalty.redemptions import InsufficientBalance
from goodwill.loyalty.schemas import CustomerRef, RedemptionCreate
from goodwill.loyalty.service import record_refund
from goodwill.maintenance import expire_points_once
from goodwill.settings import Settings
from goodwill.workspaces import service as workspaces
from tests.loyalty.helpers import make_customer, make_program, purchase, record_purchase

T = TypeVar("T")
SETTINGS = {
    "earning_rules": [{"trigger": "purchase", "points_per_unit": "1"}],
    "pending_days": 1,
    "expiry_days": 6,
}


class Ledger(RuleBasedStateMachine):
    """Each example runs in a workspace of its own, on one database and loop for the test."""

    loop: asyncio.AbstractEventLoop
    db: Database

    purchases = Bundle("purchases")
    spent = Bundle("redemptions")

    def __init__(self) -> None:
        super().__init__()
        self.now = datetime(2026, 1, 1, tzinfo=UTC)
        self.run(self._setup())
        self.refunded: dict[uuid.UUID, tuple[int, bool]] = {}
        self.redeemed: dict[uuid.UUID, int] = {}  # live (not reversed) redemptions
        self.reversed: set[uuid.UUID] = set()
        self.earned = 0
        self.n = 0

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    async def _setup(self) -> None:
        async with self.db.transaction() as session:
            ws = await workspaces.create_workspace(session, "Ledger", self.now)
        self.ws = ws.id
        self.program = await make_program(self.db, ws.id, "points", SETTINGS, now=self.now)
        self.customer = await make_customer(self.db, ws.id, now=self.now)

    # ── rules ────────────────────────────────────────────────────────────────────────────
    @initialize(target=purchases, euros=st.integers(min_value=1, max_value=300))
    def earn_and_wait(self, euros: int) -> PurchaseFacts:
        """Start with points that are already available, so spending starts at once."""
        p = self.earn(euros)
        self.now += timedelta(days=1)
        return p

    @rule(target=purchases, euros=st.integers(min_value=1, max_value=300))
    def earn(self, euros: int) -> PurchaseFacts:
        p = purchase(self.customer.id, f"{euros}.00", occurred_at=self.now)

        async def go() -> None:
            async with self.db.transaction() as session:
                await record_purchase(session, self.ws, p, now=self.now, source="test")

        self.run(go())
        self.earned += euros
        return p

    @rule(target=spent, wanted=st.integers(min_value=1, max_value=150))
    def redeem(self, wanted: int) -> MultipleResults[uuid.UUID]:
        before = self.balance().available
        self.n += 1
        data = RedemptionCreate(
            program_id=self.program.id,
            customer=CustomerRef(id=self.customer.id),
            external_id=f"r{self.n}",
            points=wanted,
        )

        async def go() -> uuid.UUID | None:
            try:
                async with self.db.transaction() as session:
                    r, _ = await redemptions.redeem(session, self.ws, data, self.now, "test")
            except InsufficientBalance:
                return None
            return r.id

        got = self.run(go())
        assert (got is not None) == (before >= wanted)
        if got is None:
            return multiple()
        self.redeemed[got] = wanted
        return multiple(got)

    @rule(redemption=spent)
    def reverse(self, redemption: uuid.UUID) -> None:
        async def go() -> bool:
            try:
                async with self.db.transaction() as session:
                    await redemptions.reverse(session, self.ws, redemption, self.now, "test")
            except Conflict:
                return False
            return True

        assert self.run(go()) == (redemption not in self.reversed)
        self.reversed.add(redemption)
        self.redeemed.pop(redemption, None)

    @rule(p=purchases, share=st.integers(min_value=0, max_value=100), fully=st.booleans())
    def refund(self, p: PurchaseFacts, share: int, fully: bool) -> None:
        previous, was_full = self.refunded.get(p.purchase_id, (0, False))
        total = max(previous, p.amount_minor * share // 100)
        full = fully or was_full or total == p.amount_minor

        async def go() -> None:
            async with self.db.transaction() as session:
                await record_refund(
                    session,
                    self.ws,
                    p,
                    refunded_minor_total=total,
                    fully_refunded=full,
                    now=self.now,
                    source="test",
                )

        self.run(go())
        self.refunded[p.purchase_id] = (total, full)

    @rule()
    def expire(self) -> None:
        self.run(expire_points_once(self.db, lambda: self.now))

    @rule(hours=st.integers(min_value=1, max_value=24 * 4))
    def wait(self, hours: int) -> None:
        self.now += timedelta(hours=hours)

    # ── invariants ───────────────────────────────────────────────────────────────────────
    def balance(self) -> points.Balance:
        async def go() -> points.Balance:
            async with self.db.transaction(write=False) as session:
                card = await CardRepository(session, self.ws).for_customer(
                    self.program.id, self.customer.id
                )
                if card is None:
                    return points.Balance(0, 0, 0, 0, 0, 0)
                return await points.balance(session, card.id, self.now)

        return self.run(go())

    def rows(self) -> list[PointsEntry]:
        async def go() -> list[PointsEntry]:
            async with self.db.transaction(write=False) as session:
                found = await session.scalars(
                    select(PointsEntry).where(PointsEntry.workspace_id == self.ws)
                )
                return list(found.all())

        return self.run(go())

    @invariant()
    def balances_are_the_sums_of_the_rows(self) -> None:
        b = self.balance()
        rows = self.rows()
        lots = {r.id: r for r in rows if r.kind == "earn"}
        remaining = dict.fromkeys(lots, 0)
        by_kind = dict.fromkeys(points.KINDS, 0)
        for r in rows:
            remaining[r.lot_id] += r.points
            by_kind[r.kind] += r.points
        state = {"pending": 0, "available": 0, "expired": 0}
        for lot_id, left in remaining.items():
            assert left >= 0, f"lot {lot_id} is negative"
            lot = lots[lot_id]
            assert lot.pending_until is not None
            if lot.expires_at is not None and lot.expires_at <= self.now:
                state["expired"] += left
            elif self.now < lot.pending_until:
                state["pending"] += left
            else:
                state["available"] += left
        assert b.pending == state["pending"]
        assert b.available == state["available"]
        assert b.expired == state["expired"] - by_kind["expire"]
        assert b.redeemed == -(by_kind["redeem"] + by_kind["reverse"])
        assert b.clawed_back == -by_kind["refund"]
        assert b.earned == by_kind["earn"] == self.earned
        assert b.earned == b.pending + b.available + b.expired + b.redeemed + b.clawed_back
        assert sum(r.points for r in rows) == sum(remaining.values())
        assert b.redeemed == sum(self.redeemed.values())
        for lot in lots.values():
            assert lot.purchase_id is not None
            if self.refunded.get(lot.purchase_id, (0, False))[1]:
                assert remaining[lot.id] == 0, "a fully refunded purchase left points"


def test_points_ledger_state_machine(settings: Settings) -> None:
    Ledger.loop = asyncio.new_event_loop()
    Ledger.db = Database(settings)
    try:
        run_state_machine_as_test(
            Ledger,
            settings=hypothesis_settings(
                max_examples=15,
                stateful_step_count=40,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    finally:
        Ledger.loop.run_until_complete(Ledger.db.dispose())
        Ledger.loop.close()
