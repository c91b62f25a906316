"""The event catalog: every type Goodwill knows is documented in docs/events.md with an example,
and the docs name no type Goodwill does not know."""

from __future__ import annotations

import json
import re

from goodwill.events.catalog import EVENT_TYPES
from tests.conftest import ROOT

# The types the event catalog was specified with; domains may add more (all documented).
SPECIFIED = {
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
    "event.tracked",
    "webhook_endpoint.disabled",
}


def _catalog_sections() -> dict[str, str]:
    """docs/events.md's catalog: each documented type → the text of its section."""
    text = (ROOT / "docs" / "events.md").read_text()
    catalog = text[text.index("\n## The catalog") :]
    sections: dict[str, str] = {}
    for heading, body in re.findall(r"\n### ([^\n]+)\n(.*?)(?=\n### |\n## |\Z)", catalog, re.S):
        names = re.findall(r"`([^`]+)`", heading)
        assert names, heading
        family = names[0].rsplit(".", 1)[0]
        for name in names:
            # `qualifying_purchase.created`, `.voided`: the short ones share the first's entity
            sections[family + name if name.startswith(".") else name] = body
    return sections


def test_every_event_type_is_documented_with_an_example() -> None:
    sections = _catalog_sections()
    assert set(sections) == EVENT_TYPES
    for event_type, body in sections.items():
        examples = re.findall(r"```json\n(.*?)```", body, re.S)
        assert examples, f"{event_type} has no JSON example in docs/events.md"
        for example in examples:
            # "…" abbreviates ids in some examples; the rest must be JSON.
            json.loads(example.replace("01a2…", "01a2"))


def test_the_catalog_has_every_specified_type() -> None:
    assert SPECIFIED <= EVENT_TYPES
