"""Loyalty's entry points for the other domains: purchases, refunds and custom events.

These run inside the caller's transaction (they never commit) and on the purchase hot path:
one query finds the active loyalty programs; a program that grants nothing costs no query;
stamps are one multi-row insert; each grant adds its outbox event.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.loyalty import points, stamps
from goodwill.loyalty.cards import CardRepository, ensure_card, lock_cards
from goodwill.loyalty.earning import (
    event_points,
    points_settings,
    purchase_points,
    stamps_for,
    stamps_kept_after_refund,
    stamps_settings,
)
from goodwill.loyalty.facts import EventFacts, LoyaltyOutcome, PurchaseFacts
from goodwill.loyalty.models import LoyaltyCard
from goodwill.programs import service as programs
from goodwill.workspaces import config as workspace_config

LOYALTY_KINDS = ("stamps", "points")


async def record_purchase(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    purchase: PurchaseFacts,
    *,
    now: datetime,
    source: str,
    new_purchase: bool = False,
) -> LoyaltyOutcome:
    """Stamps in every active stamps program the purchase qualifies for, and points from the
    purchase earning rules of every active points program. Recording it again adds nothing.
    ``new_purchase``: recorded in this transaction (its stamps go out with the outbox,
    ``goodwill.loyalty.stamps.add_stamps``)."""
    outcome = LoyaltyOutcome()
    earned_at = min(purchase.occurred_at or now, now)
    for program in (await workspace_config.current(session, workspace_id)).loyalty:
        if program.kind == "stamps":
            count, why = stamps_for(stamps_settings(program.settings), program.currency, purchase)
            if count == 0:
                outcome.skipped[program.id] = why or "no stamps"
                continue
            card = await ensure_card(session, workspace_id, program.id, purchase.customer_id, now)
            outcome.stamps_created += await stamps.add_stamps(
                session,
                workspace_id,
                program_id=program.id,
                card_id=card.id,
                purchase=purchase,
                count=count,
                now=now,
                source=source,
                new_purchase=new_purchase,
                first=len(outcome.stamps_created),
            )
            continue
        settings = points_settings(program.settings)
        earned, why = purchase_points(settings, program.currency, purchase)
        if not earned:
            outcome.skipped[program.id] = why or "no points"
            continue
        card = await ensure_card(session, workspace_id, program.id, purchase.customer_id, now)
        change = await points.earn(
            session,
            card,
            settings,
            points=sum(e.points for e in earned),
            earned_at=earned_at,
            dedupe_key=f"purchase:{purchase.purchase_id}",
            now=now,
            source=source,
            purchase_id=purchase.purchase_id,
            basis_minor=purchase.amount_minor,
            details={"rules": [{"rule_index": e.rule_index, "points": e.points} for e in earned]},
        )
        if change is not None:
            outcome.points_earned.append(change)
    return outcome


async def record_refund(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    purchase: PurchaseFacts,
    *,
    refunded_minor_total: int,
    fully_refunded: bool,
    now: datetime,
    source: str,
) -> LoyaltyOutcome:
    """Void the purchase's stamps and claw back its points as its refunds call for.

    ``refunded_minor_total`` is everything refunded on the purchase so far (not this refund
    alone), so calling this again with the same total changes nothing. Paused and archived
    programs are corrected too. The rules are in ``goodwill.loyalty.earning`` (stamps) and
    ``goodwill.loyalty.points`` (points).
    """
    outcome = LoyaltyOutcome()
    given = await stamps.stamps_of_purchase(session, workspace_id, purchase)
    lots = await points.purchase_lots(session, workspace_id, purchase.purchase_id)
    if not given and not lots:
        return outcome
    await lock_cards(session, [s.card_id for s in given] + [lot.card_id for lot in lots])

    by_program = defaultdict(list)
    for stamp in given:
        by_program[stamp.program_id].append(stamp)
    found = await programs.get_many(session, workspace_id, sorted(by_program))
    for program_id in sorted(by_program):
        group = by_program[program_id]
        keep = stamps_kept_after_refund(
            stamps_settings(found[program_id].settings),
            purchase,
            stamps_given=len(group),
            refunded_minor_total=refunded_minor_total,
            fully_refunded=fully_refunded,
        )
        outcome.stamps_voided += await stamps.void_stamps(
            session,
            workspace_id,
            stamps.stamps_to_void(group, keep),
            purchase,
            now=now,
            source=source,
        )

    refunded = (
        purchase.amount_minor
        if fully_refunded
        else max(0, min(refunded_minor_total, purchase.amount_minor))
    )
    for lot in sorted(lots, key=lambda row: row.id):
        card = await session.get(LoyaltyCard, lot.card_id)
        assert card is not None
        change = await points.settle_clawback(
            session, card, lot.id, refunded, now=now, source=source
        )
        if change is not None:
            outcome.points_clawed_back.append(change)
    return outcome


async def record_custom_event(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    event: EventFacts,
    *,
    card: LoyaltyCard | None,
    now: datetime,
    source: str,
) -> LoyaltyOutcome:
    """Points from the earning rules triggered by the event's name, in every active points
    program, or only in ``card``'s program when the event names a card (seed 003 ``loyalty``)."""
    outcome = LoyaltyOutcome()
    for program in (await workspace_config.current(session, workspace_id)).loyalty:
        if program.kind != "points" or (card is not None and program.id != card.program_id):
            continue
        settings = points_settings(program.settings)
        earned, why = event_points(settings, event)
        if not earned:
            outcome.skipped[program.id] = why or "no points"
            continue
        target = card or await ensure_card(
            session, workspace_id, program.id, event.customer_id, now
        )
        change = await points.earn(
            session,
            target,
            settings,
            points=sum(e.points for e in earned),
            earned_at=now,
            dedupe_key=f"event:{event.event_id}",
            now=now,
            source=source,
            custom_event_id=event.event_id,
            details={"rules": [{"rule_index": e.rule_index, "points": e.points} for e in earned]},
        )
        if change is not None:
            outcome.points_earned.append(change)
    return outcome


async def card_by_code(
    session: AsyncSession, workspace_id: uuid.UUID, code: str
) -> LoyaltyCard | None:
    return await CardRepository(session, workspace_id).by_code(code)
