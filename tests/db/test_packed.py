"""Packed JSON (goodwill.db.packed): what goes in comes out, keys in order, and smaller."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from goodwill.db.packed import json_of, pack, unpack

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=5)
    ),
    max_leaves=30,
)


@given(st.dictionaries(st.text(max_size=30), json_values, max_size=12))
def test_what_is_packed_unpacks_equal_with_its_keys_in_order(value: dict[str, Any]) -> None:
    got = unpack(pack(value))
    assert got == value
    assert list(got) == list(value)


def test_a_reward_payload_is_stored_in_a_fraction_of_its_json() -> None:
    payload = {
        "id": "01a23a64-3050-7475-af0b-ba07f4c6791a",
        "program_id": "01a23a64-1c38-7763-a28f-855c3c652b85",
        "rule_id": "01a23a64-1c40-7393-a848-a1b0dcb7f5dc",
        "promoter_id": "01a23a64-1d7f-7157-afa6-b6aa80f1f044",
        "beneficiary": "promoter",
        "customer_id": None,
        "referral_id": "01a23a64-3050-7475-af0b-ba05b1c6ab28",
        "source": {"type": "purchase", "id": "01a23a64-3050-7475-af0b-ba065a2f8e28"},
        "purchase_id": "01a23a64-3050-7475-af0b-ba065a2f8e28",
        "unit": "EUR",
        "amount": "12.14",
        "reversed": "0.00",
        "net": "12.14",
        "status": "pending",
        "void_reason": None,
        "hold_until": "2027-01-02T05:32:54.223Z",
        "approved_at": None,
        "paid_at": None,
        "voided_at": None,
        "payout_id": None,
        "created_at": "2026-12-03T05:32:54.223Z",
        "updated_at": "2026-12-03T05:32:54.223Z",
        "object": "reward",
    }
    text = json.dumps(payload, separators=(",", ":")).encode()
    stored = pack(payload)
    assert json_of(stored) == text
    assert len(stored) * 3 < len(text)


def test_decimals_keep_every_digit() -> None:
    assert json_of(pack({"amount": Decimal("12.50"), "tiny": Decimal("-0.00")})) == (
        b'{"amount":12.50,"tiny":-0.00}'
    )


def test_what_an_earlier_format_stored_still_reads() -> None:
    # Packed with format 0x01 (the first dictionary) when it was the one written: stored rows
    # keep it, so its dictionary can never change.
    stored = (
        b"\x01\xabF\x84\x92\xa1\x91\x9e\xa9\x01,t\r\x0c\x13\x8d\x8c\x13\xcdLt\x8d\rL\rt"
        b"\xcdM\xccMu\x13\xd3\x0c\x92t\x93\x12\r\xcc\xd3L\x92\xcd\xcc-\r\x13\x95j\x01"
    )
    value = {"amount": "12.50", "id": "01a23a64-3050-7475-af0b-ba07f4c6791a"}
    assert unpack(stored) == value
    assert pack(value, format_byte=1) == stored
    assert pack(value)[0] == 3  # what is written now


def test_what_format_0x02_stored_still_reads() -> None:
    # Written from migration 0011 to 2026-12-04 (the dictionary of 0x03, a window of 2^12).
    stored = (
        b"\x02\xabFD\xb8\xa1\x91\x9e\xa9\x01,\xa1\x18\x18&\x1a\x19'\x9a\x99\xe8\x1a\x1b"
        b"\x98\x1a\xe8\x9a\x9b\x98\x9b\xea&\xa6\x19$\xe9&%\x1a\x98\xa7\x99$\x9b\x99[\x1a&*"
        b"\xd5\x02\x00"
    )
    value = {"amount": "12.50", "id": "01a23a64-3050-7475-af0b-ba07f4c6791a"}
    assert unpack(stored) == value
    assert pack(value, format_byte=2) == stored


def test_a_purchase_events_row_is_smaller_with_the_wider_window() -> None:
    # The events of a referred purchase, as the bench stored them in one row (4.4 KB of JSON):
    # with the 2 KB dictionary, more than a window of 2^12 reaches back over.
    rows = json.loads((Path(__file__).parent / "purchase_events_row.json").read_text())
    assert len(json_of(pack(rows))) > 4000
    assert unpack(pack(rows)) == rows
    assert len(pack(rows)) + 20 < len(pack(rows, format_byte=2))


@pytest.mark.parametrize(
    ("stored", "problem"),
    [
        (b"", "not a packed JSON value"),
        ('{"a":1}', "not a packed JSON value"),
        (b'{"a":1}', "unknown packed JSON format 0x7b"),
        (b"\x04abc", "unknown packed JSON format 0x04"),
    ],
)
def test_what_is_not_packed_json_is_refused_by_name(stored: Any, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        unpack(stored)
