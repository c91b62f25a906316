"""Events whose data is their subject's row as it was written, rendered from that row.

A new purchase's ``purchase.created``, a new reward's ``reward.created``, a new stamp's
``qualifying_purchase.created`` and a new referral's ``referral.created`` carry the
purchase, the reward, the stamp or the referral exactly as it was inserted, in the same
transaction as the event, and the columns those payloads are made of never change once
written (a purchase's refunds, status and update time move; its id, customer, attribution,
amount, lines and creation time do not; a reward's status, reversals and later times move;
its id, parties, amount, hold and creation time do not; a stamp's id, program, purchase,
reference and creation time do not; a referral never changes). Stored whole, the copies were
most of a purchase's outbox row. So the outbox keeps such an event without its data
(``goodwill.events.models``): ``null``, or the list of what the payload holds that the row
does not (``purchase.created``'s ``@entity`` names the workspace's event type prefix as it was
when the event was emitted; a workspace may change it later), and without its context
attributes, which name the row's program and promoter. Whoever reads it (the feed, an event
by id, the delivery worker) renders the data and the attributes from the subject's row, with
the functions that made them when it was emitted: the event read is the one a stored copy
would have held.

Each type's renderer belongs to the domain that owns the row (:data:`_RENDERERS`, imported
when first needed): ``async (session, {id: arguments}) -> {id: (workspace_id, data,
attributes)}``, from the columns that never change. A reference whose row is missing or in
another workspace is a broken database, not a request's mistake: it raises.
"""

from __future__ import annotations

import importlib
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.events.models import Event, EventGroup

Render = Callable[
    [AsyncSession, Mapping[uuid.UUID, list[Any]]],
    Awaitable[Mapping[uuid.UUID, tuple[uuid.UUID, dict[str, Any], dict[str, Any]]]],
]

_RENDERERS = {
    "purchase.created": "goodwill.purchases.events:created_events_data",
    "reward.created": "goodwill.rewards.service:created_events_data",
    "qualifying_purchase.created": "goodwill.loyalty.events:created_events_data",
    "referral.created": "goodwill.referrals.attribution:created_events_data",
}
BY_REFERENCE = frozenset(_RENDERERS)  # the types an event may be stored without its data


def _renderer(type_: str) -> Render:
    module, name = _RENDERERS[type_].split(":")
    render: Render = getattr(importlib.import_module(module), name)
    return render


async def render(
    session: AsyncSession, groups: Iterable[EventGroup]
) -> dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]]:
    """The data and attributes of every event in ``groups`` stored without its data, by
    ``(type, subject)``: one query per type."""
    wanted: dict[str, dict[uuid.UUID, tuple[uuid.UUID, list[Any]]]] = defaultdict(dict)
    for group in groups:
        for type_, named, args in group.references():
            wanted[type_][uuid.UUID(named)] = (group.workspace_id, args)
    rendered: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]] = {}
    for type_, subjects in wanted.items():
        found = await _renderer(type_)(session, {s: args for s, (_, args) in subjects.items()})
        for subject, (workspace_id, _) in subjects.items():
            row = found.get(subject)
            if row is None or row[0] != workspace_id:
                raise LookupError(f"{type_} {subject}: its row is not in its workspace")
            rendered[type_, str(subject)] = (row[1], row[2])
    return rendered


async def expand(session: AsyncSession, groups: Iterable[EventGroup]) -> list[list[Event]]:
    """The events of each of ``groups``, with every event's data."""
    groups = list(groups)
    rendered = await render(session, groups)
    return [group.events(rendered) for group in groups]
