"""The condition language: JSON trees over the facts of an event.

    {"all": [ ... ]}     every condition holds (an empty list holds)
    {"any": [ ... ]}     at least one holds (an empty list does not)
    {"not": { ... }}     the condition does not hold
    {"field": "amount", "op": "gte", "value": "50.00"}

``field`` is a dotted path into the facts (``amount``, ``currency``, ``product_ids``,
``item_ids``, ``purchase_number``, ``days_since_referral``, ``customer.metadata.tier``,
``utm.utm_source``, ``event.metadata.plan`` …). Operators:

    eq ne                 equal / not equal
    gt gte lt lte         numeric comparisons (exact decimals: "50.00" and 50 compare equal)
    in not_in             the fact is / is not one of a list of values
    contains              a list fact (product_ids, item_ids) contains the value, or any of a
                          list of values
    exists                the fact is present (value true) or absent (value false)

A fact that is missing makes every operator but ``exists`` and ``ne``/``not_in`` false.
:func:`evaluate` answers whether the tree holds and, when it does not, why, in words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from goodwill.errors import FieldError, ValidationFailed

Op = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "exists"]
OPERATORS: tuple[str, ...] = (
    "eq",
    "ne",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "not_in",
    "contains",
    "exists",
)
_SYMBOL = {"eq": "=", "ne": "≠", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤"}
MAX_DEPTH = 8
MISSING: Any = object()


@dataclass(frozen=True)
class Leaf:
    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class All:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    item: Condition


Condition = Leaf | All | AnyOf | Not


def parse(raw: Any, param: str = "conditions") -> Condition:
    """Parse and check a condition tree; every problem is reported with its path."""
    errors: list[FieldError] = []
    tree = _parse(raw, param, errors, 0)
    if errors:
        raise ValidationFailed(errors)
    assert tree is not None
    return tree


def _err(errors: list[FieldError], path: str, message: str) -> None:
    errors.append(FieldError(param=path, code="invalid", message=message))


def _parse(raw: Any, path: str, errors: list[FieldError], depth: int) -> Condition | None:
    if depth > MAX_DEPTH:
        _err(errors, path, f"conditions nest deeper than {MAX_DEPTH} levels")
        return None
    if not isinstance(raw, dict):
        _err(
            errors,
            path,
            'must be an object: {"all": [...]}, {"any": [...]}, {"not": {...}} or {"field", "op", "value"}',
        )
        return None
    groups = [k for k in ("all", "any", "not") if k in raw]
    if groups:
        if len(raw) != 1:
            _err(errors, path, f"a {groups[0]!r} group takes no other keys (got {sorted(raw)})")
            return None
        key = groups[0]
        if key == "not":
            inner = _parse(raw["not"], f"{path}.not", errors, depth + 1)
            return None if inner is None else Not(inner)
        items = raw[key]
        if not isinstance(items, list):
            _err(errors, f"{path}.{key}", "must be a list of conditions")
            return None
        parsed = [
            _parse(item, f"{path}.{key}[{i}]", errors, depth + 1) for i, item in enumerate(items)
        ]
        if any(p is None for p in parsed):
            return None
        children = tuple(p for p in parsed if p is not None)
        return All(children) if key == "all" else AnyOf(children)
    unknown = sorted(set(raw) - {"field", "op", "value"})
    if unknown:
        _err(errors, path, f"unknown keys {unknown}")
        return None
    field, op = raw.get("field"), raw.get("op")
    ok = True
    if not isinstance(field, str) or not field or len(field) > 200 or "\x00" in field:
        _err(
            errors,
            f"{path}.field",
            "must be a dotted path such as 'amount' or 'customer.metadata.tier'",
        )
        ok = False
    if op not in OPERATORS:
        _err(errors, f"{path}.op", f"must be one of {', '.join(OPERATORS)}")
        return None
    if "value" not in raw:
        _err(errors, f"{path}.value", "is required")
        return None
    value = _check_value(op, raw["value"], f"{path}.value", errors)
    if not ok or value is MISSING:
        return None
    assert isinstance(field, str)
    return Leaf(field=field, op=op, value=value)


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        try:
            number = Decimal(value)
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def _check_value(op: str, value: Any, path: str, errors: list[FieldError]) -> Any:
    if op in ("gt", "gte", "lt", "lte"):
        number = _number(value)
        if number is None:
            _err(errors, path, f"{op} compares numbers: give a number")
            return MISSING
        return number
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            _err(errors, path, f"{op} takes a non-empty list of values")
            return MISSING
        return tuple(value)
    if op == "exists":
        if not isinstance(value, bool):
            _err(errors, path, "exists takes true or false")
            return MISSING
        return value
    if op == "contains" and isinstance(value, list):
        return tuple(value)
    if isinstance(value, dict | list):
        _err(errors, path, f"{op} compares with a single string, number or boolean")
        return MISSING
    return value


def leaf_fields(raw: Any, param: str = "conditions") -> list[tuple[str, str]]:
    """``(path of its field, field)`` for every leaf of a tree that :func:`parse` accepted,
    so a caller that knows which facts exist can name a field that is not one of them."""
    if "not" in raw:
        return leaf_fields(raw["not"], f"{param}.not")
    for key in ("all", "any"):
        if key in raw:
            found: list[tuple[str, str]] = []
            for index, item in enumerate(raw[key]):
                found.extend(leaf_fields(item, f"{param}.{key}[{index}]"))
            return found
    return [(f"{param}.field", raw["field"])]


def lookup(facts: Mapping[str, Any], field: str) -> Any:
    """The fact at a dotted path, or MISSING."""
    node: Any = facts
    for part in field.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return MISSING
    return node


def _equal(fact: Any, value: Any) -> bool:
    """Equality where numbers compare exactly (50 == "50.00" when either side is a number)."""
    if isinstance(fact, bool) or isinstance(value, bool):
        return fact is value
    a, b = _number(fact), _number(value)
    if a is not None and b is not None and not (isinstance(fact, str) and isinstance(value, str)):
        return a == b
    return bool(fact == value)


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _leaf(leaf: Leaf, facts: Mapping[str, Any]) -> tuple[bool, str]:
    fact = lookup(facts, leaf.field)
    op, value = leaf.op, leaf.value
    if op == "exists":
        present = fact is not MISSING and fact is not None
        return present == value, f"{leaf.field} is {'present' if present else 'absent'}"
    if fact is MISSING or fact is None:
        holds = op in ("ne", "not_in")
        return holds, f"{leaf.field} is absent"
    if op in ("eq", "ne"):
        equal = _equal(fact, value)
        holds = equal if op == "eq" else not equal
        return holds, f"{leaf.field} is {_show(fact)}, not {_SYMBOL[op]} {_show(value)}"
    if op in ("gt", "gte", "lt", "lte"):
        number = _number(fact)
        if number is None:
            return False, f"{leaf.field} is {_show(fact)}, not a number"
        holds = {
            "gt": number > value,
            "gte": number >= value,
            "lt": number < value,
            "lte": number <= value,
        }[op]
        return holds, f"{leaf.field} is {number}, not {_SYMBOL[op]} {value}"
    if op in ("in", "not_in"):
        found = any(_equal(fact, v) for v in value)
        holds = found if op == "in" else not found
        word = "not in" if op == "in" else "in"
        return holds, f"{leaf.field} is {_show(fact)}, {word} {_show(value)}"
    # contains
    haystack = fact if isinstance(fact, Sequence) and not isinstance(fact, str) else [fact]
    wanted = value if isinstance(value, tuple) else (value,)
    holds = any(_equal(item, w) for item in haystack for w in wanted)
    if isinstance(fact, str) and not isinstance(value, tuple) and isinstance(value, str):
        holds = value in fact
    return holds, f"{leaf.field} does not contain {_show(value)}"


def evaluate(condition: Condition | None, facts: Mapping[str, Any]) -> tuple[bool, str | None]:
    """Whether ``condition`` holds for ``facts``; if not, the reason in words."""
    if condition is None:
        return True, None
    if isinstance(condition, Leaf):
        holds, why = _leaf(condition, facts)
        return holds, None if holds else why
    if isinstance(condition, All):
        for item in condition.items:
            holds, reason = evaluate(item, facts)
            if not holds:
                return False, reason
        return True, None
    if isinstance(condition, AnyOf):
        reasons: list[str] = []
        for item in condition.items:
            holds, reason = evaluate(item, facts)
            if holds:
                return True, None
            reasons.append(reason or "")
        if not reasons:
            return False, "an empty 'any' group never holds"
        return False, "none of: " + "; ".join(reasons)
    holds, _ = evaluate(condition.item, facts)
    return (not holds), (None if not holds else "the 'not' condition holds")


def to_json(condition: Condition | None) -> Any:
    """The tree back as JSON builtins (numbers as strings, exact)."""
    if condition is None:
        return None
    if isinstance(condition, Leaf):
        value = condition.value
        if isinstance(value, Decimal):
            value = str(value)
        elif isinstance(value, tuple):
            value = list(value)
        return {"field": condition.field, "op": condition.op, "value": value}
    if isinstance(condition, All):
        return {"all": [to_json(c) for c in condition.items]}
    if isinstance(condition, AnyOf):
        return {"any": [to_json(c) for c in condition.items]}
    return {"not": to_json(condition.item)}
