"""Recording purchases: the hot path of ingest.

One purchase, in one transaction: check the body, lock the customer, decide the attribution
and the rewards (pure engine), then claim ``external_id`` with an insert-or-nothing. The
claim decides: a replay with the same body answers the first result and writes nothing; with
another body it is a 409. Rows are written with Core inserts; the rules are read once.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.clock import format_time, to_utc
from goodwill.db.packed import pack
from goodwill.db.raw import Columns, Sql, breaks_unique, insert_into, raw, view
from goodwill.db.repository import Repository
from goodwill.errors import Conflict, NotFound
from goodwill.events.service import emit, write_with_outbox
from goodwill.http.pagination import fetch_page
from goodwill.ids import new_id
from goodwill.loyalty import cards
from goodwill.loyalty import service as loyalty
from goodwill.loyalty.facts import PurchaseFacts, PurchaseItem
from goodwill.money import check_currency, from_minor, to_minor
from goodwill.purchases import explained
from goodwill.purchases.models import Purchase, Refund
from goodwill.purchases.schemas import PurchaseCreate
from goodwill.referrals import attribution
from goodwill.referrals.models import Referral
from goodwill.referrals.schemas import check_one_attribution
from goodwill.rewards import grant
from goodwill.rewards import service as rewards_service
from goodwill.rewards.models import Reward
from goodwill.rules import sets as rule_sets
from goodwill.rules.engine import Decision
from goodwill.workspaces import config as workspace_config

PURCHASES: Table = Purchase.__table__  # type: ignore[assignment]


class PurchaseRepository(Repository[Purchase]):
    model = Purchase
    noun = "purchase"

    async def by_external_id(self, external_id: str) -> Purchase | None:
        stmt = self.select().where(Purchase.external_id == external_id)
        return (await self.session.scalars(stmt)).first()


@dataclass(frozen=True)
class RecordedPurchase:
    """A purchase and what it caused. ``created`` is False for a replay of ``external_id``."""

    purchase: Purchase
    customer_id: uuid.UUID
    referral: Referral | None
    rewards: list[Reward]
    refunds: list[Refund]
    created: bool
    # the rule sets its explanation names (goodwill.rules.sets), by id
    rule_sets: Mapping[int, rule_sets.Listed] = field(default_factory=dict)


def _fingerprint(data: PurchaseCreate, amount_minor: int, items: list[dict[str, Any]]) -> bytes:
    """What makes two submissions of one ``external_id`` the same purchase."""
    canonical = {
        "customer": msgspec.to_builtins(data.customer),
        "amount_minor": amount_minor,
        "currency": data.currency,
        "items": items,
        "occurred_at": None if data.occurred_at is None else format_time(to_utc(data.occurred_at)),
        "attribution": [data.code, str(data.link_id), str(data.click_id)],
        "utm_params": None if data.utm_params is None else data.utm_params.as_dict(),
        "description": data.description,
    }
    return hashlib.sha256(msgspec.json.encode(canonical, order="sorted")).digest()


# A purchase stores the first 8 bytes of its fingerprint: it only ever tells a replay from
# another body sent under the same external_id by the same workspace, which 64 bits do but
# once in 2^64 such bodies. Purchases stored before keep 16 (since 2026-12-04) or all 32.
STORED_FINGERPRINT = 8


def _same_purchase(stored: bytes, fingerprint: bytes) -> bool:
    """Whether ``stored`` (8 bytes, or the 16 or 32 of a purchase stored before) is
    ``fingerprint``'s."""
    return fingerprint[: len(stored)] == stored


_FINGERPRINT = (
    "SELECT NULL, NULL, fingerprint FROM purchases WHERE workspace_id = :workspace_id "
    "AND external_id = :external_id"
)
_LOOKUPS: dict[tuple[int, int], str] = {}


def _lookups_sql(ids: int, skus: int) -> str:
    """The fingerprint already recorded for ``external_id`` (a row ``(NULL, NULL, fingerprint)``)
    and the catalog products of ``ids`` product ids and ``skus`` skus (rows ``(id, sku, NULL)``):
    read beside the customer and the touch (``attribution.open_``), one text per shape."""
    found = _LOOKUPS.get((ids, skus))
    if found is None:
        clauses = []
        if ids:
            clauses.append("id IN (" + ", ".join(f":id{i}" for i in range(ids)) + ")")
        if skus:
            clauses.append("sku IN (" + ", ".join(f":sku{i}" for i in range(skus)) + ")")
        found = _FINGERPRINT
        if clauses:
            found += (
                " UNION ALL SELECT id, sku, NULL FROM products "  # noqa: S608 - placeholders
                f"WHERE workspace_id = :workspace_id AND ({' OR '.join(clauses)})"
            )
        _LOOKUPS[(ids, skus)] = found
    return found


@dataclass(frozen=True, slots=True)
class _Lookups:
    opening: attribution.Opening  # the customer and the touch, read with them
    items: list[dict[str, Any]]  # the lines as stored
    recorded_fingerprint: bytes | None  # of the purchase already recorded with the external_id


async def _lookups(
    session: AsyncSession, workspace_id: uuid.UUID, data: PurchaseCreate, currency: str
) -> _Lookups:
    """Whether ``external_id`` is recorded already, and the lines as stored (the catalog
    product, by id, or by sku for an ``item_id``), read with the purchase's customer (locked)
    and touch: one statement."""
    items = data.items
    ids = sorted({i.product_id for i in items if i.product_id is not None})
    skus = sorted({i.item_id for i in items if i.product_id is None and i.item_id is not None})
    by_id: dict[uuid.UUID, tuple[uuid.UUID, str]] = {}
    by_sku: dict[str, tuple[uuid.UUID, str]] = {}
    recorded = None
    params: dict[str, Any] = {f"id{i}": v for i, v in enumerate(ids)}
    params.update({f"sku{i}": v for i, v in enumerate(skus)})
    opening = await attribution.open_(
        session,
        workspace_id,
        data,
        data.customer,
        _lookups_sql(len(ids), len(skus)),
        external_id=data.external_id,
        **params,
    )
    db = opening.db
    for row_id, sku, fingerprint in opening.rows:
        if row_id is None:
            recorded = fingerprint
            continue
        found = (db.uuid_of(row_id), sku)
        by_id[found[0]] = by_sku[sku] = found
    stored: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        product: tuple[uuid.UUID, str] | None = None
        if item.product_id is not None:
            product = by_id.get(item.product_id)
            if product is None:
                raise NotFound(f"No product {item.product_id}", param=f"items[{index}].product_id")
        elif item.item_id is not None:
            product = by_sku.get(item.item_id)
        amount = None
        if item.amount is not None:
            amount = to_minor(item.amount, currency, f"items[{index}].amount")
        stored.append(
            {
                "product_id": None if product is None else str(product[0]),
                "item_id": item.item_id or (None if product is None else product[1]),
                "quantity": item.quantity,
                "amount_minor": amount,
            }
        )
    return _Lookups(opening, stored, recorded)


_INSERT = insert_into(PURCHASES)


def lost_a_race(exc: BaseException) -> bool:
    """Whether :func:`record` failed because a concurrent request that committed meanwhile
    recorded the same ``external_id`` first, or referred the same customer: the purchase's
    rows are written together at the end of its transaction, so the unique constraint is
    what finds it. Run again, the purchase answers as that request's replay (or is attributed
    to that referral)."""
    return breaks_unique(exc, "purchases", "workspace_id", "external_id") or breaks_unique(
        exc, "referrals", "workspace_id", "customer_id"
    )


async def record(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    data: PurchaseCreate,
    *,
    now: datetime,
    source: str,
    event_type_prefix: str,
    config_version: int | None = None,
) -> RecordedPurchase:
    """Record a purchase, or answer the first one recorded with its ``external_id``.

    ``config_version``: the workspace's, as authentication read it (spares reading it again).
    """
    check_one_attribution(data, required=False)
    currency = check_currency(data.currency)
    amount_minor = to_minor(data.amount, currency, "amount")
    found = await _lookups(session, workspace_id, data, currency)
    items = found.items
    occurred_at = now if data.occurred_at is None else to_utc(data.occurred_at, "occurred_at")
    fingerprint = _fingerprint(data, amount_minor, items)
    config = await workspace_config.current(session, workspace_id, version=config_version)
    if found.recorded_fingerprint is not None:
        # A replay changes nothing, not even the customer it names (which may have changed
        # since; its row was only locked); a concurrent first submission is still settled by
        # the unique constraint.
        return await _replay(session, workspace_id, data.external_id, fingerprint)
    touch = found.opening.touch()
    customer, created = await found.opening.customer(session, now, source)
    # A customer created just now has no purchases, referral or cards yet: nothing to look
    # up. A known one's count, referral and cards in the loyalty programs are one statement,
    # read under the customer's lock.
    if created:
        history = attribution.NO_HISTORY
    else:
        card_programs = [program.id for program in config.loyalty]
        history = await attribution.history_of(
            session, workspace_id, customer.id, card_programs=card_programs
        )
        cards.known(session, customer.id, card_programs, history.cards)
    number = history.purchases + 1
    attributed = await attribution.attribute(
        session,
        customer,
        touch,
        at=occurred_at,
        now=now,
        source_kind="purchase",
        new_customer=created,
        history=history,
    )
    utm = data.utm_params.as_dict() if data.utm_params else None
    if utm is None and touch is not None and touch.click is not None and attributed.is_new:
        utm = dict(touch.click.utm_params) or None
    purchase_id = new_id()
    target = None
    decisions: list[Decision] = []
    reward_ids: dict[uuid.UUID, uuid.UUID] = {}
    if attributed.program is not None:
        facts: dict[str, Any] = {
            "amount": from_minor(amount_minor, currency),
            "currency": currency,
            "product_ids": [i["product_id"] for i in items if i["product_id"]],
            "item_ids": [i["item_id"] for i in items if i["item_id"]],
            "purchase_number": number,
            "customer": attribution.customer_facts(customer),
            "utm": utm or {},
        }
        occurrence = attribution.occurrence_for(
            attributed,
            trigger="purchase",
            at=occurred_at,
            now=now,
            facts=facts,
            amount_minor=amount_minor,
            currency=currency,
        )
        target = attribution.target_for(attributed, customer, "purchase", purchase_id, purchase_id)
        decisions, reward_ids = await grant.decide_for(session, target, occurrence)
    values: dict[str, Any] = {
        "id": purchase_id,
        "workspace_id": workspace_id,
        "external_id": data.external_id,
        "fingerprint": fingerprint[:STORED_FINGERPRINT],
        "customer_id": customer.id,
        "program_id": None if attributed.program is None else attributed.program.id,
        "promoter_id": None if attributed.promoter is None else attributed.promoter.id,
        "link_id": attributed.link_id if attributed.referral is not None else None,
        "click_id": attributed.click_id if attributed.referral is not None else None,
        "referral_id": None if attributed.referral is None else attributed.referral.id,
        "amount_minor": amount_minor,
        "refunded_minor": 0,
        "currency": currency,
        "items": items,
        "utm_params": utm,
        "description": data.description,
        "purchase_number": number,
        "status": "completed",
        "explanation": {
            "attribution": attributed.explain(),
            "rules": grant.explain(decisions, reward_ids),
        },
        "occurred_at": occurred_at,
        "created_at": now,
        "updated_at": None,
    }
    if attributed.status == "refused":  # known program and promoter, but no referral
        values["program_id"] = values["promoter_id"] = None
    # The referral and the purchase are read back by nothing in this transaction: they are
    # written with its events, in their statement on PostgreSQL. A concurrent first
    # submission of the same external_id, which the replay check above could not see yet,
    # fails that statement once it commits (the route runs this again: see lost_a_race).
    if attributed.is_new:
        assert attributed.referral is not None
        await attribution.save_referral(session, attributed.referral, now, source, with_outbox=True)
    # The explanation without what the row and the rewards hold (goodwill.purchases.explained),
    # and without the rules' ids and names when they are a recorded set.
    decided_with = None
    if attributed.program is not None:
        set_id = config.rule_sets.get(attributed.program.id)
        if set_id is not None:
            decided_with = (set_id, rule_sets.listed(config.rules[attributed.program.id]))
    kept = explained.stored(values["explanation"], values, decided_with)
    stored = {"explanation": pack(kept), "items": pack(items)}
    write_with_outbox(session, (_INSERT, [values | stored]))
    purchase = view(Purchase, values)
    granted = await after_purchase_recorded(
        session,
        purchase,
        customer_metadata=customer.metadata_,
        target=target,
        decisions=decisions,
        reward_ids=reward_ids,
        now=now,
        source=source,
        event_type_prefix=event_type_prefix,
    )
    return RecordedPurchase(
        purchase,
        customer.id,
        attributed.referral,
        granted,
        [],
        True,
        {} if decided_with is None else {decided_with[0]: decided_with[1]},
    )


async def after_purchase_recorded(
    session: AsyncSession,
    purchase: Purchase,
    *,
    customer_metadata: Mapping[str, Any],
    target: grant.Target | None,
    decisions: Sequence[Decision],
    reward_ids: dict[uuid.UUID, uuid.UUID],
    now: datetime,
    source: str,
    event_type_prefix: str,
) -> list[Reward]:
    """Everything that reacts to a newly recorded purchase (never to a replay), in its
    transaction: the ``purchase.created`` event, the referral rewards decided for it, then the
    stamps and points of the workspace's loyalty programs. Returns the referral rewards.

    The rewards (decided before, from the counters they change) and the stamps (the purchase
    has none yet) are read by nothing else in the transaction: they are written with its
    events, one statement on PostgreSQL."""
    await emit(
        session,
        workspace_id=purchase.workspace_id,
        type="purchase.created",
        source=source,
        subject=purchase.id,
        data=None,  # rendered from the purchase's row (goodwill.purchases.events)
        rendered_with=[event_type_prefix],
        now=now,
    )
    rewards = (
        []
        if target is None
        else await grant.write(
            session, target, decisions, reward_ids, now=now, source=source, with_outbox=True
        )
    )
    await loyalty.record_purchase(
        session,
        purchase.workspace_id,
        loyalty_facts(purchase, customer_metadata),
        now=now,
        source=source,
        new_purchase=True,
    )
    return rewards


def loyalty_facts(purchase: Purchase, customer_metadata: Mapping[str, Any]) -> PurchaseFacts:
    """The purchase as the loyalty programs see it. A line sent without an amount counts as 0
    for conditions on a line's amount."""
    return PurchaseFacts(
        purchase_id=purchase.id,
        customer_id=purchase.customer_id,
        external_id=purchase.external_id,
        amount_minor=purchase.amount_minor,
        currency=purchase.currency,
        items=tuple(
            PurchaseItem(
                product_id=item.get("product_id"),
                item_id=item.get("item_id"),
                quantity=int(item["quantity"]),
                amount_minor=int(item.get("amount_minor") or 0),
            )
            for item in purchase.items
        ),
        occurred_at=purchase.occurred_at,
        customer_metadata=customer_metadata,
        utm=purchase.utm_params or {},
    )


_PURCHASE = Columns(Purchase)
_REWARD = Columns(Reward)
_REFUND = Columns(Refund)
_REFERRAL = Columns(Referral)
_BY_EXTERNAL_ID = Sql(
    f"SELECT {_PURCHASE.names} FROM purchases "  # noqa: S608 - column names
    "WHERE workspace_id = :workspace_id AND external_id = :external_id"
)
_REWARDS_OF = Sql(
    f"SELECT {_REWARD.names} FROM rewards "  # noqa: S608 - column names
    "WHERE workspace_id = :workspace_id AND purchase_id = :purchase_id ORDER BY id"
)
_REFUNDS_OF = Sql(
    f"SELECT {_REFUND.names} FROM refunds "  # noqa: S608 - column names
    "WHERE workspace_id = :workspace_id AND purchase_id = :purchase_id ORDER BY id"
)
_REFERRAL_BY_ID = Sql(
    f"SELECT {_REFERRAL.names} FROM referrals "  # noqa: S608 - column names
    "WHERE workspace_id = :workspace_id AND id = :id"
)


async def _replay(
    session: AsyncSession, workspace_id: uuid.UUID, external_id: str, fingerprint: bytes
) -> RecordedPurchase:
    db = await raw(session)
    row = await db.one(_BY_EXTERNAL_ID, workspace_id=workspace_id, external_id=external_id)
    assert row is not None  # the insert found it
    purchase: Purchase = _PURCHASE.instance(db, row)
    if not _same_purchase(purchase.fingerprint, fingerprint):
        raise Conflict(
            f"A different purchase was recorded with external_id {external_id!r} "
            f"({purchase.id}); use a new external_id for a new purchase",
            param="external_id",
        )
    return await load(session, workspace_id, purchase, created=False)


async def load(
    session: AsyncSession, workspace_id: uuid.UUID, purchase: Purchase, *, created: bool = False
) -> RecordedPurchase:
    """What the purchase caused, as its answer shows it: rewards, refunds, the referral."""
    db = await raw(session)
    ids = {"workspace_id": workspace_id, "purchase_id": purchase.id}
    rewards = [_REWARD.instance(db, row) for row in await db.all(_REWARDS_OF, **ids)]
    refunds = [_REFUND.instance(db, row) for row in await db.all(_REFUNDS_OF, **ids)]
    referral = None
    if purchase.referral_id is not None:
        row = await db.one(_REFERRAL_BY_ID, workspace_id=workspace_id, id=purchase.referral_id)
        assert row is not None  # referrals are never deleted
        referral = _REFERRAL.instance(db, row)
    named = await _rule_sets_of(session, workspace_id, [purchase])
    return RecordedPurchase(
        purchase, purchase.customer_id, referral, rewards, refunds, created, named
    )


async def _rule_sets_of(
    session: AsyncSession, workspace_id: uuid.UUID, purchases: Sequence[Purchase]
) -> Mapping[int, rule_sets.Listed]:
    """The rule sets the purchases' explanations name."""
    ids = {i for p in purchases if (i := explained.rule_set_of(p.explanation)) is not None}
    return await rule_sets.read(session, workspace_id, ids) if ids else {}


async def refunds_of(
    session: AsyncSession, workspace_id: uuid.UUID, purchase_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Refund]]:
    found: dict[uuid.UUID, list[Refund]] = {pid: [] for pid in purchase_ids}
    if purchase_ids:
        stmt = (
            select(Refund)
            .where(Refund.workspace_id == workspace_id, Refund.purchase_id.in_(purchase_ids))
            .order_by(Refund.id)
        )
        for refund in (await session.scalars(stmt)).all():
            found[refund.purchase_id].append(refund)
    return found


async def get(
    session: AsyncSession, workspace_id: uuid.UUID, purchase_id: uuid.UUID
) -> RecordedPurchase:
    purchase = await PurchaseRepository(session, workspace_id).get(purchase_id)
    return await load(session, workspace_id, purchase)


async def list_(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    filters: dict[str, Any],
    limit: int,
    cursor: str | None,
) -> tuple[list[RecordedPurchase], str | None]:
    stmt = PurchaseRepository(session, workspace_id).select()
    for name, value in filters.items():
        if value is not None:
            stmt = stmt.where(getattr(Purchase, name) == value)
    rows, next_cursor = await fetch_page(session, stmt, Purchase.id, limit, cursor)
    ids = [p.id for p in rows]
    rewards = await rewards_service.for_purchases(session, workspace_id, ids)
    refunds = await refunds_of(session, workspace_id, ids)
    named = await _rule_sets_of(session, workspace_id, rows)
    return [
        RecordedPurchase(p, p.customer_id, None, rewards[p.id], refunds[p.id], False, named)
        for p in rows
    ], next_cursor


async def totals_for_promoter(
    session: AsyncSession, workspace_id: uuid.UUID, promoter_id: uuid.UUID
) -> tuple[int, dict[str, int]]:
    """How many purchases are attributed to the promoter, and revenue net of refunds per
    currency (minor units)."""
    stmt = (
        select(
            Purchase.currency,
            func.count(),
            func.sum(Purchase.amount_minor - Purchase.refunded_minor),
        )
        .where(Purchase.workspace_id == workspace_id, Purchase.promoter_id == promoter_id)
        .group_by(Purchase.currency)
        .order_by(Purchase.currency)
    )
    count = 0
    revenue: dict[str, int] = {}
    for currency, n, total in (await session.execute(stmt)).all():
        count += int(n)
        revenue[currency] = int(total or 0)
    return count, revenue
