"""Every event type Goodwill emits (documented with an example each in docs/events.md).

A webhook endpoint may subscribe to these exactly, to a family (``reward.*``) or to ``*``.
A domain that starts emitting a new type adds it here and to the docs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

EVENT_TYPES: frozenset[str] = frozenset(
    {
        "customer.created",
        "referral.created",
        "purchase.created",
        "purchase.refunded",
        "reward.created",
        "reward.approved",
        "reward.voided",
        "reward.paid",
        "payout.created",
        "qualifying_purchase.created",
        "qualifying_purchase.voided",
        "qualifying_purchase.redeemed",
        "qualifying_purchase.unredeemed",
        "redemption.created",
        "redemption.reversed",
        "points.earned",
        "points.expired",
        "points.clawed_back",
        "event.tracked",
        "webhook_endpoint.disabled",
        "webhook_endpoint.test",
    }
)

_PATTERN = re.compile(r"^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?)$")


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` is not a subscription Goodwill understands, or None if it is."""
    if not _PATTERN.match(pattern):
        return "must be an event type (reward.created), a family (reward.*) or *"
    if pattern == "*":
        return None
    if pattern.endswith(".*"):
        family = pattern[:-1]
        if not any(t.startswith(family) for t in EVENT_TYPES):
            return f"no event type starts with {family!r} (see docs/events.md)"
        return None
    if pattern not in EVENT_TYPES:
        return f"{pattern!r} is not a Goodwill event type (see docs/events.md)"
    return None


def matches(patterns: Sequence[str], event_type: str) -> bool:
    """Whether an endpoint subscribed to ``patterns`` receives ``event_type``.

    ``*`` matches everything; ``reward.*`` matches ``reward.created`` and any deeper type.
    The test event goes to the one endpoint it was sent for, whatever it subscribes to.
    """
    for pattern in patterns:
        if pattern in ("*", event_type):
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False
