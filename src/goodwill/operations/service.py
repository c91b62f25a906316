"""``create_purchase``, seed 002's action: a purchase for a lead, in the lead's program.

Its errors are the seed's (``{"error": "<message>"}`` via the route's simple error shape): 400
for what the request says wrong, then 403 ``Lead not accessible`` and 403 ``Product not found
or not owned by your company``. The purchase itself is recorded by the purchases service, so
it has the same attribution, rewards, ledger and ``purchase.created`` event as any other.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.clock import format_time, to_utc
from goodwill.errors import BadRequest, Forbidden, ValidationFailed
from goodwill.ids import new_id
from goodwill.money import from_minor, to_minor
from goodwill.products.service import ProductRepository
from goodwill.purchases import service as purchases
from goodwill.purchases.events import plain_number
from goodwill.purchases.schemas import ItemIn, PurchaseCreate
from goodwill.referrals import service as referrals
from goodwill.referrals.schemas import CustomerRef

ACTIONS = ("create_purchase",)
FIELDS = ("action", "lead_id", "product_id", "purchase_amount", "date", "description")
MAX_DESCRIPTION = 1000
LEAD_NOT_ACCESSIBLE = "Lead not accessible"
PRODUCT_NOT_OWNED = "Product not found or not owned by your company"
_decoder = msgspec.json.Decoder(float_hook=Decimal)


@dataclass(frozen=True)
class CreatePurchase:
    lead_id: uuid.UUID
    product_id: uuid.UUID | None
    amount: Decimal
    date: datetime | None
    description: str | None


def parse_body(body: bytes) -> dict[str, Any]:
    """The JSON object; numbers with a fraction decode as exact decimals, never floats."""
    try:
        raw = _decoder.decode(body) if body else None
    except msgspec.DecodeError:
        raise BadRequest("Invalid JSON body") from None
    if not isinstance(raw, dict):
        raise BadRequest("The body must be a JSON object")
    return raw


def action_of(raw: dict[str, Any]) -> str:
    action = raw.get("action")
    if action is None or action == "":
        raise BadRequest("action required")
    if action not in ACTIONS:
        raise BadRequest(f"Unknown action: {action!r} (supported: {', '.join(ACTIONS)})")
    return str(action)


def _uuid(raw: dict[str, Any], name: str) -> uuid.UUID | None:
    value = raw.get(name)
    if value is None or value == "":
        return None
    try:
        if isinstance(value, str):
            return uuid.UUID(value)
    except ValueError:
        pass
    raise BadRequest(f"{name} must be a UUID")


def _amount(raw: dict[str, Any]) -> Decimal:
    value = raw.get("purchase_amount")
    if value is None:
        return Decimal(0)
    if isinstance(value, bool):
        value = None
    elif isinstance(value, int | Decimal):
        value = Decimal(value)
    elif isinstance(value, str):
        try:
            value = Decimal(value)
        except ArithmeticError:
            value = None
    else:
        value = None
    if value is None or not value.is_finite() or value < 0:
        raise BadRequest("purchase_amount must be a number, 0 or more")
    return value


def _date(raw: dict[str, Any]) -> datetime | None:
    value = raw.get("date")
    if value is None:
        return None
    if isinstance(value, str):
        for typ in (datetime, date):
            try:
                parsed = msgspec.convert(value, typ)
            except msgspec.ValidationError:
                continue
            if not isinstance(parsed, datetime):
                return datetime(parsed.year, parsed.month, parsed.day, tzinfo=UTC)
            try:
                return to_utc(parsed, "date")
            except ValidationFailed:
                raise BadRequest(
                    "date is out of range: in UTC it must fall between 0001-01-01 and 9999-12-31"
                ) from None
    raise BadRequest("date must be an ISO 8601 timestamp, e.g. 2025-04-01T00:00:00.000Z")


def _description(raw: dict[str, Any]) -> str | None:
    value = raw.get("description")
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_DESCRIPTION or "\x00" in value:
        raise BadRequest(f"description must be a string of at most {MAX_DESCRIPTION} characters")
    return value


def parse_create_purchase(raw: dict[str, Any]) -> CreatePurchase:
    """Check the request itself (every 400), before anything is looked up."""
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise BadRequest(f"Unknown field: {unknown[0]!r}")
    lead_id = _uuid(raw, "lead_id")
    if lead_id is None:
        raise BadRequest("lead_id required")
    return CreatePurchase(
        lead_id=lead_id,
        product_id=_uuid(raw, "product_id"),
        amount=_amount(raw),
        date=_date(raw),
        description=_description(raw),
    )


async def create_purchase(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    request: CreatePurchase,
    *,
    now: datetime,
    source: str,
    event_type_prefix: str,
) -> dict[str, Any]:
    """Record the purchase; the seed's ``{"purchase": {...}}`` answer."""
    found = await referrals.accessible_program_of(session, workspace_id, request.lead_id)
    if found is None:
        raise Forbidden(LEAD_NOT_ACCESSIBLE)
    _, _, program = found
    if request.product_id is not None:
        product = await ProductRepository(session, workspace_id).find(request.product_id)
        if product is None:
            raise Forbidden(PRODUCT_NOT_OWNED)
    try:
        to_minor(request.amount, program.currency, "purchase_amount")
    except ValidationFailed as exc:
        raise BadRequest(f"purchase_amount {exc.errors[0].message}") from None
    data = PurchaseCreate(
        external_id=f"operations:{new_id()}",
        customer=CustomerRef(id=request.lead_id),
        amount=request.amount,
        currency=program.currency,
        items=[] if request.product_id is None else [ItemIn(product_id=request.product_id)],
        occurred_at=request.date,
        description=request.description,
    )
    recorded = await purchases.record(
        session, workspace_id, data, now=now, source=source, event_type_prefix=event_type_prefix
    )
    purchase = recorded.purchase
    return {
        "purchase": {
            "id": str(purchase.id),
            "created_at": format_time(purchase.created_at),
            "leads_id": str(purchase.customer_id),
            "products_id": None if request.product_id is None else str(request.product_id),
            "purchase_amount": plain_number(from_minor(purchase.amount_minor, purchase.currency)),
            "date": format_time(purchase.occurred_at),
            "description": purchase.description,
        }
    }
