"""Exact money: ``Decimal`` in the currency's major unit at the edges, integer minor units inside.

No binary float ever touches an amount. A percentage is the only place that rounds, half-even,
to the currency's minor unit (0 decimals for JPY, 2 for EUR, 3 for BHD…).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import cache

from iso4217 import Currency

from goodwill.errors import ValidationFailed

# The largest amount, in minor units: 10^15 (10 trillion EUR), far below a 64-bit integer, so
# sums of amounts never overflow one either.
MAX_MINOR = 10**15


@cache
def exponent(currency: str) -> int:
    """Digits after the decimal point for an ISO 4217 code; unknown codes raise ``KeyError``."""
    if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        raise KeyError(currency)
    try:
        found = Currency(currency)
    except ValueError:
        raise KeyError(currency) from None
    if found.exponent is None:  # funds, metals, "no currency": nothing to pay out in
        raise KeyError(currency)
    return int(found.exponent)


def check_currency(currency: str, param: str = "currency") -> str:
    try:
        exponent(currency)
    except KeyError:
        raise ValidationFailed.single(
            param, f"{currency!r} is not an ISO 4217 currency code (e.g. 'EUR', 'JPY')"
        ) from None
    return currency


def to_minor(
    amount: Decimal, currency: str, param: str = "amount", *, allow_negative: bool = False
) -> int:
    """Major-unit decimal → integer minor units, refusing more digits than the currency has."""
    try:
        digits = exponent(currency)
    except KeyError:
        raise ValidationFailed.single("currency", f"unknown currency {currency!r}") from None
    if not amount.is_finite():
        raise ValidationFailed.single(param, "must be a finite number")
    if amount < 0 and not allow_negative:
        raise ValidationFailed.single(param, "must be 0 or more")
    scaled = amount.scaleb(digits)
    if scaled != scaled.to_integral_value():
        raise ValidationFailed.single(
            param, f"{amount} has more than {digits} decimal places, the minor unit of {currency}"
        )
    try:
        minor = int(scaled)
    except (InvalidOperation, OverflowError):
        raise ValidationFailed.single(param, "is out of range") from None
    if abs(minor) > MAX_MINOR:  # stored as 64-bit integers, and summed
        raise ValidationFailed.single(param, "is out of range")
    return minor


def from_minor(minor: int, currency: str) -> Decimal:
    """Integer minor units → ``Decimal`` with exactly the currency's number of places."""
    digits = exponent(currency)
    return Decimal(minor).scaleb(-digits).quantize(Decimal(1).scaleb(-digits))


def percentage_of(minor: int, percent: Decimal) -> int:
    """``percent``% of an amount in minor units, rounded half-even to a whole minor unit."""
    return int((Decimal(minor) * percent / 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def prorate(minor: int, part: int, whole: int) -> int:
    """``minor × part / whole`` rounded half-even: the share of a reward a partial refund undoes."""
    if whole == 0:
        return 0
    return int((Decimal(minor) * part / whole).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
