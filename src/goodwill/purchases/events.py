"""The ``purchase.created`` event in seed 000's shape, and the plain numbers it carries."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from goodwill.clock import format_time
from goodwill.money import from_minor
from goodwill.purchases.models import Purchase


def plain_number(value: Decimal) -> Decimal:
    """``420.00`` → ``420``, ``12.50`` → ``12.5``: the same exact number, as seed 000 and 002
    write it (never in exponent form)."""
    normal = value.normalize()
    if normal == normal.to_integral_value():
        return normal.quantize(Decimal(1))
    return normal


def purchase_created_data(purchase: Purchase, prefix: str) -> dict[str, Any]:
    """Exactly seed 000's ``data``: ``utm_params`` only when the purchase has some."""
    first = purchase.items[0] if purchase.items else None
    data: dict[str, Any] = {
        "@entity": f"{prefix}.purchase",
        "trigger_type": "purchase",
        "purchase_id": str(purchase.id),
        "contact_id": str(purchase.customer_id),
        "promoter_id": None if purchase.promoter_id is None else str(purchase.promoter_id),
        "link_id": None if purchase.link_id is None else str(purchase.link_id),
        "item_id": None if first is None else first.get("item_id"),
        "amount": plain_number(from_minor(purchase.amount_minor, purchase.currency)),
        "created_at": format_time(purchase.created_at),
        "updated_at": format_time(purchase.updated_at),
    }
    if purchase.utm_params:
        data["utm_params"] = dict(purchase.utm_params)
    return data
