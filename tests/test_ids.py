"""Ids that carry a time: event ids, found again by the time they were made for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from goodwill.ids import first_id_at, new_id_at

# Hypothesis takes naive bounds and makes aware datetimes in the zones given.
moments = st.datetimes(
    min_value=datetime.min,  # noqa: DTZ901
    max_value=datetime.max,  # noqa: DTZ901
    timezones=st.just(UTC),
)


@given(moments, moments)
def test_an_id_made_at_or_after_a_time_is_at_least_that_times_first_id(
    a: datetime, b: datetime
) -> None:
    since, made = min(a, b), max(a, b)
    made_id = new_id_at(made)
    assert made_id.version == 7
    assert made_id >= first_id_at(since)
    # Bytes order as the UUIDs do: SQLite compares the 16-byte blobs, PostgreSQL its uuid.
    assert made_id.bytes >= first_id_at(since).bytes


def test_an_id_carries_its_millisecond() -> None:
    moment = datetime(2026, 4, 6, 6, 23, 54, 120999, tzinfo=UTC)
    made = new_id_at(moment)
    assert made.int >> 80 == 1_775_456_634_120
    assert first_id_at(moment).int == 1_775_456_634_120 << 80
    assert new_id_at(moment) != made  # unique within the millisecond
    # A millisecond earlier is below the first id of this one.
    assert new_id_at(moment - timedelta(milliseconds=1)) < first_id_at(moment)
    # Before 1970 every time takes the first millisecond: still bounded from below.
    assert new_id_at(datetime(1, 1, 1, tzinfo=UTC)) >= first_id_at(datetime(1, 1, 1, tzinfo=UTC))
