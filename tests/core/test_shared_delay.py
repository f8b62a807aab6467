"""The learned first delay shared by the app's processes through the status table (shared.lag, issue 17 #2): a new
process (an instance scaled out or restarted) starts from what the others learned instead of 5 s; read once, lazily,
on the first new guest's message; written back at most once a minute; the stored value is untrusted; storage
trouble never fails a membership."""

from __future__ import annotations

import logging
import math
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from azure.data.tables import TableClient

from bench.claims_cost import CountingProxy, proxied
from shared import app_context
from shared.lag import (
    DEFAULT_FIRST_DELAY_SECONDS,
    FIRST_DELAY_ROW,
    MAX_FIRST_DELAY_SECONDS,
    MIN_FIRST_DELAY_SECONDS,
    SHARE_EVERY_SECONDS,
    SHARE_TIMEOUT_SECONDS,
    FirstDelay,
    shared_value,
)
from shared.status import LAG_PARTITION, TABLE
from simulator.graph.models import PARTNERS_GROUP_ID

# ---- the rule, with a store of the test's own ------------------------------------------------------------------


class Store:
    def __init__(self, stored: Any = None, fail: str = "") -> None:
        self.stored, self.fail = stored, fail
        self.reads = 0
        self.writes: list[float] = []

    def read(self) -> Any:
        self.reads += 1
        if "read" in self.fail:
            raise ConnectionError("the table service did not answer")
        time.sleep(0.05)  # long enough for concurrent first messages to meet
        return self.stored

    def write(self, seconds: float) -> None:
        if "write" in self.fail:
            raise ConnectionError("the table service did not answer")
        self.writes.append(seconds)
        self.stored = seconds


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def lag_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.event for record in caplog.records  # type: ignore[attr-defined]
            if record.levelno == logging.WARNING and getattr(record, "event", "").startswith("lag.")]


@pytest.mark.parametrize("stored", [1e9, 120.5, 0.99, -3.0, 0, math.nan, math.inf, "60", True, None, [1], "x" * 10_000])
def test_a_stored_value_a_process_could_not_have_written_is_ignored(stored):
    assert shared_value(stored) is None


@pytest.mark.parametrize("stored", [MIN_FIRST_DELAY_SECONDS, 37.25, 60, MAX_FIRST_DELAY_SECONDS])
def test_a_stored_value_within_the_bounds_is_taken(stored):
    assert shared_value(stored) == stored


def test_a_new_process_starts_from_the_shared_delay_read_once_whatever_the_number_of_first_messages():
    store = Store(stored=40.0)
    delay = FirstDelay(shared=lambda: store)
    assert delay.seconds == DEFAULT_FIRST_DELAY_SECONDS and store.reads == 0  # nothing read before the first message
    threads = [threading.Thread(target=delay.load_shared) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    delay.load_shared()
    assert store.reads == 1 and delay.seconds == 40.0


@pytest.mark.parametrize("stored", [1e9, -3.0, "60", math.nan])
def test_a_hostile_stored_value_leaves_the_default(stored, caplog):
    delay = FirstDelay(shared=lambda: Store(stored=stored))
    delay.load_shared()
    assert delay.seconds == DEFAULT_FIRST_DELAY_SECONDS
    assert lag_warnings(caplog) == ["lag.shared_ignored"]
    assert all(len(record.getMessage()) < 500 for record in caplog.records)  # the value itself is not echoed


def test_the_learned_delay_is_written_back_at_most_once_per_interval_and_only_when_something_was_learned():
    store, clock = Store(stored=20.0), Clock()
    delay = FirstDelay(shared=lambda: store, clock=clock)
    delay.load_shared()
    assert store.writes == []  # a read teaches nothing: not written back
    delay.observed(lagged=True)  # 20 -> 40: the first lesson goes out at once
    assert store.writes == [40.0]
    for _ in range(10):
        clock.now += 5
        delay.observed(lagged=False)
    assert store.writes == [40.0]  # 50 s later: not yet
    clock.now += 10
    delay.observed(lagged=False)
    assert store.writes == [40.0, pytest.approx(40.0 * 0.98 ** 11)]
    clock.now += 3600
    assert len(store.writes) == 2  # an hour without a lesson: nothing to write


def test_a_change_under_a_tenth_of_the_shared_value_is_not_written_back():
    store, clock = Store(stored=100.0), Clock()
    delay = FirstDelay(shared=lambda: store, clock=clock)
    delay.load_shared()
    for _ in range(5):  # 100 -> 90.4 s: under 10% below what was read
        clock.now += SHARE_EVERY_SECONDS
        delay.observed(lagged=False)
    assert store.writes == []
    clock.now += SHARE_EVERY_SECONDS
    delay.observed(lagged=False)  # 88.6 s: now 11% below
    assert store.writes == [pytest.approx(100 * 0.98 ** 6)]


def test_storage_failures_leave_the_default_and_are_warned_about_once_each(caplog):
    store, clock = Store(stored=40.0, fail="read write"), Clock()
    delay = FirstDelay(shared=lambda: store, clock=clock)
    delay.load_shared()
    delay.load_shared()
    assert delay.seconds == DEFAULT_FIRST_DELAY_SECONDS and store.reads == 1  # at most once, even after a failure
    for _ in range(3):
        assert delay.observed(lagged=True) in (10.0, 20.0, 40.0)  # the lesson is learned all the same
        clock.now += SHARE_EVERY_SECONDS
    assert delay.seconds == 40.0
    assert lag_warnings(caplog) == ["lag.shared_read_failed", "lag.shared_write_failed"]


def test_what_this_process_learned_before_the_read_is_not_undone_by_it():
    store = Store(stored=80.0)
    delay = FirstDelay(shared=lambda: store)
    delay.observed(lagged=True)  # 5 -> 10 (e.g. a lag verdict reached before the first new guest's message)
    delay.load_shared()
    assert delay.seconds == 10.0


def test_a_process_without_a_shared_store_never_reads_or_writes():
    delay = FirstDelay()
    delay.load_shared()
    assert delay.observed(lagged=True) == 10.0


# ---- through the real worker, Azurite and the simulator ---------------------------------------------------------


def stored_entity(azurite: str) -> dict[str, Any]:
    return dict(TableClient.from_connection_string(azurite, TABLE).get_entity(LAG_PARTITION, FIRST_DELAY_ROW))


def test_a_new_process_holds_a_new_guest_for_the_delay_an_earlier_process_learned(app, azurite):
    app.configure(simulated_waits=True)
    app.sim.replication_lag = 30
    first = app.invite({"email": "alice@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
    app.deliver_until_settled(first.messages[0])
    assert app_context.current().first_delay.seconds == 10.0  # 5 s met the 30 s lag: doubled
    entity = stored_entity(azurite)
    assert entity["seconds"] == 10.0 and entity["updatedAt"].endswith("Z")
    assert "expiresAt" not in entity  # the status sweep (which deletes expired partitions) leaves it alone

    app.configure(simulated_waits=True)  # a new process: a fresh application context on the same storage account
    assert app_context.current().first_delay.seconds == DEFAULT_FIRST_DELAY_SECONDS  # nothing read at start
    app.sim.replication_lag = 0
    second = app.invite({"email": "bob@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
    assert app.deliver(second.messages[0]) is None
    (held,) = app.put_back()
    assert held["firstDelay"] == 10.0 and app.queue_delays[-1] == 10.0  # not 5 s: what the first process learned
    assert app.deliver(held) is None and app.put_back() == []
    assert second.body["userId"] in app.sim.graph.members_of(PARTNERS_GROUP_ID)
    # Its own lesson (10 -> 9.8 s) is not worth a write: within 10% of what it read.
    assert app_context.current().first_delay.seconds == pytest.approx(9.8)
    assert stored_entity(azurite)["seconds"] == 10.0


@pytest.mark.parametrize("stored", [1e9, -3.0, "120", math.nan])
def test_a_hostile_value_in_the_table_holds_a_new_guest_for_the_default_only(app, azurite, stored):
    TableClient.from_connection_string(azurite, TABLE).upsert_entity(
        {"PartitionKey": LAG_PARTITION, "RowKey": FIRST_DELAY_ROW, "seconds": stored})
    app.configure(simulated_waits=True)
    answer = app.invite({"email": "alice@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
    assert app.deliver(answer.messages[0]) is None
    (held,) = app.put_back()
    assert held["firstDelay"] == DEFAULT_FIRST_DELAY_SECONDS and app.queue_delays == [DEFAULT_FIRST_DELAY_SECONDS]
    assert app.deliver(held) is None
    assert answer.body["userId"] in app.sim.graph.members_of(PARTNERS_GROUP_ID)


@contextmanager
def table_service_down(how: str) -> Iterator[str]:
    """A table endpoint that refuses connections, or accepts them and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    if how == "refused":
        listener.close()
    else:
        listener.listen(16)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        listener.close()


@pytest.mark.parametrize("how", ["refused", "silent"])
def test_with_the_table_service_down_a_new_guest_is_held_for_the_default_and_added(app, azurite, how, caplog):
    app.configure(simulated_waits=True)
    answer = app.invite({"email": "alice@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
    # Without a requestId: the message has no status record, which needs the table too (and waits for it).
    message = {name: value for name, value in answer.messages[0].items() if name != "requestId"}
    with table_service_down(how) as url:
        app.configure(simulated_waits=True,
                      AzureWebJobsStorage=re.sub(r"TableEndpoint=[^;]+", f"TableEndpoint={url}/devstoreaccount1",
                                                 azurite))
        started = time.monotonic()
        assert app.deliver(message) is None
        (held,) = app.put_back()
        assert held["firstDelay"] == DEFAULT_FIRST_DELAY_SECONDS
        assert app.deliver(held) is None and app.put_back() == []
        elapsed = time.monotonic() - started
    assert answer.body["userId"] in app.sim.graph.members_of(PARTNERS_GROUP_ID)
    assert lag_warnings(caplog) == ["lag.shared_read_failed", "lag.shared_write_failed"]
    assert elapsed < 2 * SHARE_TIMEOUT_SECONDS + 3  # one short try each for the read and the write


def test_the_shared_delay_costs_one_read_per_process_and_a_write_a_minute_at_most(app, azurite):
    upstream = re.search(r"TableEndpoint=(http://[^/;]+)", azurite)
    assert upstream is not None
    proxy = CountingProxy(upstream.group(1))
    try:
        app.configure(simulated_waits=True, AzureWebJobsStorage=proxied(azurite, proxy.url))
        app.sim.replication_lag = 20

        def lag_requests() -> list[Any]:
            return [r for r in proxy.requests if LAG_PARTITION in r.path or "%7Elag" in r.path]

        started = app.sim.clock.now()
        deliveries = 0
        for n in range(100):
            answer = app.invite({"email": f"guest{n}@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
            if n == 0:
                assert lag_requests() == []  # never on the HTTP path
            deliveries += app.deliver_until_settled(answer.messages[0])[0]
            assert answer.body["userId"] in app.sim.graph.members_of(PARTNERS_GROUP_ID)
        minutes = (app.sim.clock.now() - started) / 60
        requests = lag_requests()
        reads = [r for r in requests if r.method == "GET"]
        writes = [r for r in requests if r.method != "GET"]
        print(f"100 memberships, {deliveries} deliveries, {minutes:.1f} simulated minutes: {len(reads)} read(s), "
              f"{len(writes)} write(s) of the shared delay; {len(proxy.requests)} table requests in all")
        assert len(reads) == 1
        assert 1 <= len(writes) <= 1 + minutes * 60 / SHARE_EVERY_SECONDS
    finally:
        proxy.close()


def test_the_first_write_back_makes_the_table_when_the_account_has_none_yet(azurite):
    # infra/main.bicep creates invitationstatus; a fresh local account (Azurite) may not have it yet.
    from azure.data.tables import TableServiceClient

    from shared.lag import TableDelay
    from shared.wire import parse_utc

    name = "lagsharefresh"
    TableServiceClient.from_connection_string(azurite).delete_table(name)
    table = TableClient.from_connection_string(azurite, name)
    now = parse_utc("2026-12-02T09:00:00Z")
    assert now is not None
    shared = TableDelay(table, lambda: now)
    assert shared.read() is None  # no table: nothing learned yet, not a failure
    shared.write(42.5)
    assert shared.read() == 42.5
    entity = table.get_entity(LAG_PARTITION, FIRST_DELAY_ROW)
    assert entity["updatedAt"] == "2026-12-02T09:00:00.000Z"
    TableServiceClient.from_connection_string(azurite).delete_table(name)
