"""The client-side pace: sliding windows per budget, Retry-After pauses every worker, thread safety."""

from __future__ import annotations

import threading

import pytest

from guest_cli.bulk.rate_limit import DIRECTORY_WRITES, INVITATIONS, RateBudget, RateLimiter, graph_budgets


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_graph_budgets_are_the_documented_ones() -> None:
    assert graph_budgets() == {INVITATIONS: RateBudget(150, 5.0), DIRECTORY_WRITES: RateBudget(3000, 150.0)}


def test_a_full_window_makes_the_next_request_wait_until_the_oldest_leaves() -> None:
    clock = FakeClock()
    limiter = RateLimiter({INVITATIONS: RateBudget(3, 5.0)}, margin=0.0, clock=clock)
    assert [limiter.try_acquire(INVITATIONS) for _ in range(3)] == [0.0, 0.0, 0.0]
    clock.now += 1.0
    assert limiter.try_acquire(INVITATIONS) == pytest.approx(4.0)
    clock.now += 4.0
    assert limiter.try_acquire(INVITATIONS) == 0.0


def test_the_margin_pads_the_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter({INVITATIONS: RateBudget(1, 10.0)}, margin=0.1, clock=clock)
    limiter.try_acquire(INVITATIONS)
    clock.now += 10.0
    assert limiter.try_acquire(INVITATIONS) == pytest.approx(1.0)


def test_a_request_must_fit_every_budget_it_names_and_a_batch_costs_its_size() -> None:
    clock = FakeClock()
    limiter = RateLimiter({INVITATIONS: RateBudget(10, 5.0), DIRECTORY_WRITES: RateBudget(20, 60.0)}, margin=0.0,
                          clock=clock)
    assert limiter.try_acquire(DIRECTORY_WRITES, cost=19) == 0.0
    assert limiter.try_acquire(INVITATIONS, DIRECTORY_WRITES) == 0.0
    assert limiter.try_acquire(INVITATIONS, DIRECTORY_WRITES) == pytest.approx(60.0)
    assert limiter.try_acquire(INVITATIONS) == 0.0  # the invitation budget alone still has room
    with pytest.raises(ValueError):
        limiter.try_acquire(DIRECTORY_WRITES, cost=21)


def test_retry_after_pauses_every_worker_and_a_shorter_pause_does_not_shorten_it() -> None:
    clock = FakeClock()
    limiter = RateLimiter({INVITATIONS: RateBudget(100, 5.0)}, clock=clock)
    limiter.pause(10)
    limiter.pause(2)
    assert limiter.try_acquire(INVITATIONS) == pytest.approx(10.0)
    assert limiter.try_acquire() == pytest.approx(10.0)  # even a call under no budget waits
    clock.now += 10
    assert limiter.try_acquire(INVITATIONS) == 0.0
    assert limiter.pauses == 2


def test_many_threads_never_start_more_than_the_budget_in_any_window() -> None:
    starts: list[float] = []
    lock = threading.Lock()
    limiter = RateLimiter({INVITATIONS: RateBudget(5, 0.2)}, margin=0.0)

    def worker() -> None:
        for _ in range(4):
            started = limiter.acquire(INVITATIONS)
            with lock:
                starts.append(started)

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    starts.sort()
    assert len(starts) == 20
    # Any 6 consecutive starts span at least one window: the sixth had to wait for the first to leave.
    assert all(starts[i + 5] - starts[i] >= 0.2 - 1e-6 for i in range(len(starts) - 5))
