"""CSV exports: rewards (e.g. all approved ones), and the lines of one payout."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from goodwill.clock import format_time
from goodwill.payouts.models import Payout
from goodwill.rewards.models import Reward
from goodwill.rewards.schemas import amount_of

REWARD_COLUMNS = (
    "reward_id",
    "status",
    "promoter_id",
    "beneficiary",
    "customer_id",
    "program_id",
    "rule_id",
    "source_type",
    "source_id",
    "purchase_id",
    "unit",
    "amount",
    "reversed",
    "net",
    "created_at",
    "hold_until",
    "approved_at",
    "paid_at",
    "voided_at",
    "void_reason",
    "payout_id",
)
PAYOUT_COLUMNS = (
    "payout_id",
    "line",
    "reward_id",
    "promoter_id",
    "customer_id",
    "currency",
    "amount",
)


def _text(value: object) -> str:
    if value is None:
        return ""
    return str(value)


def _time(value: object) -> str:
    return "" if value is None else format_time(value)  # type: ignore[arg-type]


def rewards_csv(rewards: Sequence[Reward]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(REWARD_COLUMNS)
    for r in rewards:
        writer.writerow(
            [
                r.id,
                r.status,
                r.promoter_id,
                r.beneficiary,
                _text(r.customer_id),
                r.program_id,
                r.rule_id,
                *r.source,
                _text(r.purchase_id),
                r.unit,
                amount_of(r.amount_minor, r.unit),
                amount_of(r.reversed_minor, r.unit),
                amount_of(r.amount_minor - r.reversed_minor, r.unit),
                _time(r.created_at),
                _time(r.hold_until),
                _time(r.approved_at),
                _time(r.paid_at),
                _time(r.voided_at),
                _text(r.void_reason),
                _text(r.payout_id),
            ]
        )
    return out.getvalue()


def payout_csv(payout: Payout, rewards: Sequence[Reward]) -> str:
    """One line per reward paid, a clawback line if one was netted, and the total."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(PAYOUT_COLUMNS)
    who = [_text(payout.promoter_id), _text(payout.customer_id), payout.currency]
    for r in rewards:
        net = amount_of(r.amount_minor - r.reversed_minor, r.unit)
        writer.writerow([payout.id, "reward", r.id, *who, net])
    if payout.clawback_minor:
        writer.writerow(
            [payout.id, "clawback", "", *who, amount_of(-payout.clawback_minor, payout.currency)]
        )
    writer.writerow([payout.id, "total", "", *who, amount_of(payout.amount_minor, payout.currency)])
    return out.getvalue()
