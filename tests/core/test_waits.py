"""The failure policy's waits (shared.failures: WAIT_KINDS, Verdict.wait_seconds) and the learned first delay
(shared.lag), as plain rules."""

from __future__ import annotations

import datetime as dt

import pytest

from shared.failures import WAIT_KINDS, judge, judge_membership
from shared.graph import GraphError
from shared.lag import (
    DEFAULT_FIRST_DELAY_SECONDS,
    MAX_FIRST_DELAY_SECONDS,
    MIN_FIRST_DELAY_SECONDS,
    FirstDelay,
    new_to_writes,
)

GROUP = "1b5e0c9a-0000-4000-8000-000000000001"


def lag() -> GraphError:
    return GraphError(404, "Request_ResourceNotFound", "Resource 'u' does not exist or one of its queried …")


def test_lag_throttling_and_outages_are_waits_and_nothing_else_is():
    assert {"replication-lag", "graph-throttled", "graph-unavailable"} == WAIT_KINDS
    assert judge_membership(lag(), GROUP).wait
    assert judge(GraphError(429, "TooManyRequests", "Please retry again later.", retry_after=41)).wait
    assert judge(GraphError(503, "ServiceUnavailable", "…")).wait
    assert not judge(GraphError(401, "InvalidAuthenticationToken", "…")).wait  # credential: a fault
    assert not judge(RuntimeError("bug")).wait  # a bug: a fault
    assert not judge(GraphError(403, "Authorization_RequestDenied", "Insufficient privileges")).retry


@pytest.mark.parametrize("retry_after", [41, 315])
def test_a_wait_is_the_retry_after_graph_sent(retry_after):
    verdict = judge(GraphError(429, "TooManyRequests", "Please retry again later.", retry_after=retry_after))
    assert verdict.wait_seconds(1) == retry_after == verdict.wait_seconds(7)


def test_the_lag_backoff_doubles_per_try_up_to_ten_minutes_and_honours_the_learned_delay():
    verdict = judge_membership(lag(), GROUP)
    assert [verdict.wait_seconds(n) for n in range(1, 12)] == [2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]
    assert verdict.wait_seconds(1, lag_estimate=37.2) == 38
    assert verdict.wait_seconds(1, lag_estimate=10_000) == 600


def test_the_first_delay_doubles_on_lag_shrinks_on_success_and_stays_bounded():
    delay = FirstDelay()
    assert delay.seconds == DEFAULT_FIRST_DELAY_SECONDS == 5.0
    assert delay.observed(lagged=True) == 10.0
    assert delay.observed(lagged=False) == pytest.approx(9.8)
    for _ in range(20):
        delay.observed(lagged=True)
    assert delay.seconds == MAX_FIRST_DELAY_SECONDS
    for _ in range(500):
        delay.observed(lagged=False)
    assert delay.seconds == MIN_FIRST_DELAY_SECONDS


def test_the_wait_left_is_the_delay_minus_the_guests_age_and_never_more_than_the_delay():
    delay = FirstDelay(20.0)
    invited = dt.datetime(2026, 12, 2, 8, 0, tzinfo=dt.UTC)
    assert delay.remaining(invited, invited) == 20.0
    assert delay.remaining(invited, invited + dt.timedelta(seconds=4.96)) == 15.1  # rounded up to a tenth
    assert delay.remaining(invited, invited + dt.timedelta(seconds=20)) == 0.0
    assert delay.remaining(invited, invited + dt.timedelta(hours=3)) == 0.0
    assert delay.remaining(invited + dt.timedelta(days=365), invited) == 20.0  # from the future: taken as now


def test_after_the_lag_a_guest_waits_the_learned_delay_and_at_least_its_own_age():
    delay = FirstDelay(20.0)
    invited = dt.datetime(2026, 12, 2, 8, 0, tzinfo=dt.UTC)
    assert delay.after_lag(invited, invited + dt.timedelta(seconds=5)) == 20.0
    assert delay.after_lag(invited, invited + dt.timedelta(seconds=45)) == 45.0  # invisible at 45 s: again at 90 s
    assert delay.after_lag(None, invited) == 20.0  # age unknown (another producer): the learned delay
    assert delay.after_lag(invited + dt.timedelta(days=1), invited) == 20.0  # from the future: age 0
    assert judge_membership(lag(), GROUP).wait_seconds(1, delay.after_lag(invited, invited + dt.timedelta(days=9))) \
        == 600  # an ancient (or hostile) time: the lag backoff's ceiling


def test_a_person_found_but_created_within_the_longest_delay_is_new_to_directory_writes():
    now = dt.datetime(2026, 12, 2, 8, 0, tzinfo=dt.UTC)
    moments_ago = now - dt.timedelta(seconds=30)
    assert new_to_writes(moments_ago, now) == moments_ago
    assert new_to_writes(now - dt.timedelta(seconds=MAX_FIRST_DELAY_SECONDS), now) is None  # older: writable
    assert new_to_writes(None, now) is None  # Graph gave no createdDateTime
    assert new_to_writes(now + dt.timedelta(minutes=5), now) is None  # from the future: not trusted as new
