"""The timer's NCRONTAB schedule as ``python -m devhost`` fires it (UTC, six fields)."""

from __future__ import annotations

import datetime as dt

import pytest

from devhost.schedule import next_occurrence

T = dt.datetime(2026, 12, 2, 5, 40, 26, tzinfo=dt.UTC)


def test_the_daily_renewal_fires_at_0330_utc_today_or_tomorrow() -> None:
    assert next_occurrence("0 30 3 * * *", T) == dt.datetime(2026, 12, 3, 3, 30, tzinfo=dt.UTC)
    assert next_occurrence("0 30 3 * * *", T.replace(hour=1)) == dt.datetime(2026, 12, 2, 3, 30, tzinfo=dt.UTC)


def test_steps_lists_ranges_and_weekdays() -> None:
    assert next_occurrence("*/15 * * * * *", T) == T.replace(second=30)
    assert next_occurrence("0 0 9-17 * * 1-5", T) == dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)  # a Wednesday
    assert next_occurrence("0 0 0 * * 0", T) == dt.datetime(2026, 12, 6, 0, 0, tzinfo=dt.UTC)  # Sunday
    assert next_occurrence("0 0 12 1,15 * *", T) == dt.datetime(2026, 12, 15, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("schedule", ["0 30 3 * *", "61 * * * * *", "0 0 0 31 2 *"])
def test_a_schedule_it_cannot_fire_is_refused(schedule: str) -> None:
    with pytest.raises(ValueError):
        next_occurrence(schedule, T)
