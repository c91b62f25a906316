"""A purchase's explanation as stored: without what the purchase's row and rewards hold.

The explanation (``goodwill.rewards.schemas.Explanation``) names the program, promoter and
referral the purchase was attributed to, which are the purchase's own ``program_id``,
``promoter_id`` and ``referral_id`` (the promoter once more inside the message), and, for
each rule that fired, the reward it made: that reward's id, unit and amount, which its row
never changes. Hex ids compress poorly: stored with them, the explanation was most of a
referred purchase's row. So :func:`stored` leaves out

- each attribution id equal to the row's column (a refused attribution names a program and a
  promoter the row does not: those stay);
- the row's promoter id inside the message, stored as the list of the text around it;
- each fired rule's ``reward_id``, ``unit`` and ``amount``, found again among the purchase's
  rewards by rule (a purchase makes at most one reward per rule), and what a fired rule
  says unless it says otherwise (:data:`FIRED`: ``"code": "fired"``, no reason, not capped);
- an attribution to nothing, the same for every unattributed purchase, stored as ``"none"``;
- each rule's id and name, when the rules decided are a recorded set (``goodwill.rules.sets``,
  since 2026-12-07): the explanation names the set (``"rule_set"``) and its entries follow
  the set's order;

and :func:`complete` puts them back when the purchase is read. An explanation stored whole
(every purchase before 2026-12-06) has nothing to complete and reads as it was stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from goodwill.purchases.models import Purchase
from goodwill.referrals.attribution import NOTHING_TO_ATTRIBUTE, Attributed
from goodwill.rewards.schemas import RewardOut
from goodwill.rules.sets import Listed

ROW_IDS = ("program_id", "promoter_id", "referral_id")
REWARD_KEYS = ("reward_id", "unit", "amount")
FIRED = {"code": "fired", "reason": None, "capped": False}
SET_KEYS = ("rule_id", "rule_name")
NOTHING = Attributed("none", NOTHING_TO_ATTRIBUTE).explain()


def _implied(key: str, value: Any) -> bool:
    """Whether a fired rule's ``key`` says what :data:`FIRED` says (``False`` is not ``0``)."""
    if key not in FIRED:
        return False
    default = FIRED[key]
    return type(value) is type(default) and value == default


def stored(
    explanation: Mapping[str, Any],
    row: Mapping[str, Any],
    rule_set: tuple[int, Listed] | None = None,
) -> dict[str, Any]:
    """What ``purchases.explanation`` keeps of ``explanation``, for the purchase ``row`` (its
    columns by name) whose rewards are written with it. ``rule_set``: the id and rules of the
    recorded set the rules were decided with, if any (used when it lists exactly the
    explanation's rules)."""
    attribution: Any = explanation["attribution"]
    if attribution == NOTHING:
        attribution = "none"
    else:
        attribution = dict(attribution)
        for key in ROW_IDS:
            own = row[key]
            if own is not None and attribution.get(key) == str(own):
                del attribution[key]
        promoter = row["promoter_id"]
        if promoter is not None and str(promoter) in attribution["message"]:
            attribution["message"] = attribution["message"].split(str(promoter))
    rules = [
        {k: v for k, v in rule.items() if k not in REWARD_KEYS and not _implied(k, v)}
        if rule["fired"]
        else rule
        for rule in explanation["rules"]
    ]
    if rule_set is not None and rules:
        set_id, listed = rule_set
        if tuple((rule["rule_id"], rule["rule_name"]) for rule in rules) == listed:
            named = [{k: v for k, v in rule.items() if k not in SET_KEYS} for rule in rules]
            return {"attribution": attribution, "rule_set": set_id, "rules": named}
    return {"attribution": attribution, "rules": rules}


def rule_set_of(kept: Mapping[str, Any]) -> int | None:
    """The rule set a stored explanation names, if any."""
    found = kept.get("rule_set")
    return found if isinstance(found, int) else None


def complete(
    kept: Mapping[str, Any],
    purchase: Purchase,
    rewards: Sequence[RewardOut],
    rule_sets: Mapping[int, Listed] | None = None,
) -> dict[str, Any]:
    """The explanation of ``purchase`` from what :func:`stored` kept of it, the purchase's
    ``rewards`` and the rule set it names (among ``rule_sets``). A fired rule whose reward is
    not among them, or a rule set that is not, is a broken database: it raises."""
    set_id = rule_set_of(kept)
    if set_id is not None:
        listed = (rule_sets or {}).get(set_id)
        if listed is None:
            raise LookupError(f"purchase {purchase.id}: no rule set {set_id} to explain")
        kept = {key: value for key, value in kept.items() if key != "rule_set"} | {
            "rules": [
                {"rule_id": rule_id, "rule_name": name} | entry
                for (rule_id, name), entry in zip(listed, kept["rules"], strict=True)
            ]
        }
    attribution: Any = kept.get("attribution")
    if attribution == "none":
        attribution = dict(NOTHING)
    elif attribution is not None:
        attribution = dict(attribution)
        for key in ROW_IDS:
            if key not in attribution:
                attribution[key] = str(getattr(purchase, key))
        if isinstance(attribution["message"], list):
            attribution["message"] = str(purchase.promoter_id).join(attribution["message"])
    made = {
        str(r.rule_id): r
        for r in rewards
        if r.source.type == "purchase" and r.source.id == purchase.id
    }
    rules = []
    for rule in kept.get("rules", []):
        if not rule["fired"] or "reward_id" in rule:
            rules.append(rule)
            continue
        reward = made.get(rule["rule_id"])
        if reward is None:
            raise LookupError(
                f"purchase {purchase.id}: no reward of rule {rule['rule_id']} to explain"
            )
        rules.append(
            {
                "rule_id": rule["rule_id"],
                "rule_name": rule["rule_name"],
                "fired": True,
                "code": rule.get("code", FIRED["code"]),
                "reason": rule.get("reason", FIRED["reason"]),
                "reward_id": str(reward.id),
                "unit": reward.unit,
                "amount": str(reward.amount),
                "capped": rule.get("capped", FIRED["capped"]),
            }
            | rule
        )
    completed = dict(kept) | {"rules": rules}
    if attribution is not None:
        completed["attribution"] = attribution
    return completed
