"""Grant expiry soak: many grants expiring while the simulated Graph misbehaves (docs/lifecycle.md).

    python bench/grant_soak.py --connection-string "<Azurite or a storage account>" [--grants 1000] [--seed 15]

Grants are made the way the app makes them: a ``group-memberships`` message with ``accessUntil`` delivered to the
``add_membership`` function by the real worker (devhost). Most end after a day, the rest after thirty; other
members of the same groups were added by someone else. Then Graph answers removals 429 with Retry-After (10%),
503 (5%), and drops 4% of connections (half before the removal is applied, half after: the answer is lost), and
the ``expire_grants`` timer runs hourly (invoked by the worker as the host invokes it) on the simulated clock until
nothing is due. The app's waits move the simulated clock; its wall clock is the simulator's.

Checked (GrantSoakReport.problems, exit 1 when any): every expired grant's membership is gone, its grant ended and
its removal recorded exactly once, no membership was added again; every grant not yet expired and every member
added by someone else is still there; no grant is left due (nothing lost); the faults really fired.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.host_model import app_settings, simulated_timing
from shared import runtime
from simulator import Simulator

DAY = 86400.0
SOAK_READ_TIMEOUT = 1.0


@dataclass
class GrantSoakConfig:
    grants: int = 1000
    seed: int = 15
    groups: int = 6
    expiring: float = 0.8  # the share of grants that end after a day (the rest after thirty)
    foreign_members: int = 100  # members added by someone else, spread over the groups
    throttled: float = 0.10
    unavailable: float = 0.05
    dropped: float = 0.04  # half before the removal is applied, half after (answer lost)
    retry_after: int = 2
    max_runs: int = 24  # hourly runs after the day
    # called with the simulator after the expiry, before the accounting (tests use it to check the accounting)
    after_expiry: Callable[[Simulator], None] | None = None


@dataclass
class GrantSoakReport:
    grants: int = 0
    expired: int = 0
    kept: int = 0
    foreign: int = 0
    runs: int = 0
    fault_hits: dict[str, int] = field(default_factory=dict)
    delete_calls: int = 0
    delete_204: int = 0
    problems_found: list[str] = field(default_factory=list)
    setup_seconds: float = 0.0
    expiry_seconds: float = 0.0

    def problems(self) -> list[str]:
        problems = list(self.problems_found)
        if self.fault_hits and not all(self.fault_hits.values()):
            problems.append(f"a fault never fired: {self.fault_hits}")
        return problems

    def summary(self) -> str:
        return (f"grants {self.grants}: expired and removed {self.expired}, kept (not due) {self.kept}, "
                f"foreign members kept {self.foreign}; timer runs {self.runs}; DELETE calls {self.delete_calls} "
                f"(204: {self.delete_204}); faults {self.fault_hits}; setup {self.setup_seconds:.1f} s, "
                f"expiry {self.expiry_seconds:.1f} s real; problems: {len(self.problems())}")


def run_grant_soak(sim: Simulator, connection_string: str, config: GrantSoakConfig) -> GrantSoakReport:
    """Run against a started simulator whose CA the process trusts and an empty-able storage account."""
    from azure.data.tables import TableServiceClient

    from devhost import worker
    from shared import grants as grants_module

    rng = random.Random(config.seed)
    report = GrantSoakReport(grants=config.grants)
    groups = [sim.graph.add_group(f"Grant soak {n}")["id"] for n in range(config.groups)]
    foreign: list[tuple[str, str]] = []
    for number in range(config.foreign_members):
        user = sim.graph.add_user(f"staff.{number}@{sim.tenant_domain}")
        group = groups[number % len(groups)]
        with sim.graph.lock:
            sim.graph.groups[group].members.append(user["id"])
        foreign.append((user["id"], group))
    pairs: list[tuple[str, str]] = []
    number = 0
    while len(pairs) < config.grants:
        user = sim.graph.add_user(f"guest.{number}@partner{number % 7}.example", user_type="Guest",
                                  external_user_state="Accepted")
        for group in rng.sample(groups, min(len(groups), rng.randint(1, 2), config.grants - len(pairs))):
            pairs.append((user["id"], group))
        number += 1

    TableServiceClient.from_connection_string(connection_string).delete_table(grants_module.TABLE)
    saved = dict(os.environ)
    os.environ.update(app_settings(sim, ALLOWED_GROUP_IDS=",".join(groups), AzureWebJobsStorage=connection_string))
    timing = replace(simulated_timing(sim), graph_read_timeout=SOAK_READ_TIMEOUT)
    runtime.reset(timing=timing)
    events: collections.Counter[tuple[str, str, str]] = collections.Counter()

    def recorder(event: str, grant: Any) -> None:
        events[(event, grant.user_id, grant.group_id)] += 1

    grants_module.add_status_recorder(recorder)
    host = worker()
    try:
        started = time.monotonic()
        now = sim.clock.now()
        expiring: set[tuple[str, str]] = set()
        for index, (user_id, group_id) in enumerate(pairs):
            expires = rng.random() < config.expiring
            ends = now + (DAY if expires else 30 * DAY)
            if expires:
                expiring.add((user_id, group_id))
            message = {"userId": user_id, "groupId": group_id, "requestId": f"grant-soak-{index}",
                       "accessUntil": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ends))}
            called = host.queue("add_membership", json.dumps(message), message_id=f"m-{index}", dequeue_count=1)
            if called.error_message or called.outputs.get("group-memberships-poison"):
                report.problems_found.append(f"grant {index} was not recorded: {called.error_message}")
        report.setup_seconds = time.monotonic() - started
        adds_before = sim.stats.count(service="graph", method="POST", path=r"/members/\$ref$")

        faults = _add_faults(sim, config)
        started = time.monotonic()
        sim.clock.advance(DAY + 60)
        for _ in range(config.max_runs):
            report.runs += 1
            called = host.timer("expire_grants")
            if called.error_message:
                report.problems_found.append(f"timer run {report.runs} failed: {called.error_message[:300]}")
            store = grants_module.grant_store()
            if not store.due(_now(sim)):
                break
            sim.clock.advance(3600)
        report.expiry_seconds = time.monotonic() - started
        report.fault_hits = {name: fault.hits for name, fault in faults.items()}
        sim.faults.clear()
        if config.after_expiry is not None:
            config.after_expiry(sim)
        _account(sim, report, pairs, expiring, foreign, events, adds_before, grants_module.grant_store())
    finally:
        grants_module.remove_status_recorder(recorder)
        os.environ.clear()
        os.environ.update(saved)
        runtime.reset()
    return report


def _now(sim: Simulator) -> Any:
    import datetime as dt

    return dt.datetime.fromtimestamp(sim.clock.now(), dt.UTC)


def _add_faults(sim: Simulator, config: GrantSoakConfig) -> dict[str, Any]:
    """On the removals only (the rules are tried in order; each probability is conditioned on the earlier ones not
    firing, so the overall rates are the configured ones)."""
    left = 1.0
    rules = {
        "429": (config.throttled, {"status": 429, "retry_after": config.retry_after}),
        "503": (config.unavailable, {"status": 503}),
        "dropped": (config.dropped / 2, {"drop": True}),
        "dropped_after_work": (config.dropped / 2, {"drop_after": True}),
    }
    faults = {}
    for name, (rate, effect) in rules.items():
        faults[name] = sim.faults.add(service="graph", method="DELETE", path=r"/members/[^/]+/\$ref$",
                                      probability=rate / left, **effect)
        left -= rate
    return faults


def _account(sim: Simulator, report: GrantSoakReport, pairs: list[tuple[str, str]],
             expiring: set[tuple[str, str]], foreign: list[tuple[str, str]],
             events: collections.Counter[tuple[str, str, str]], adds_before: int, store: Any) -> None:
    problems = report.problems_found
    states = {(g.user_id, g.group_id): g.state for g in store.all()}
    for user_id, group_id in pairs:
        member = user_id in sim.graph.members_of(group_id)
        key = (user_id, group_id)
        if key in expiring:
            recorded = events[("expired", user_id, group_id)]
            if member or states.get(key) != "ended" or recorded != 1:
                problems.append(f"expired grant {user_id}/{group_id}: member={member}, state={states.get(key)}, "
                                f"removal recorded {recorded} times")
            else:
                report.expired += 1
        elif not member or states.get(key) != "active":
            problems.append(f"grant {user_id}/{group_id} not due was removed (state {states.get(key)})")
        else:
            report.kept += 1
    for user_id, group_id in foreign:
        if user_id in sim.graph.members_of(group_id):
            report.foreign += 1
        else:
            problems.append(f"member {user_id} added by someone else was removed from {group_id}")
    adds_after = sim.stats.count(service="graph", method="POST", path=r"/members/\$ref$")
    if adds_after != adds_before:
        problems.append(f"{adds_after - adds_before} membership(s) were added again during the expiry")
    deletes = [r for r in sim.stats.requests if r.method == "DELETE" and r.path.endswith("/$ref")]
    report.delete_calls = len(deletes)
    answered = collections.Counter(r.path for r in deletes if r.status == 204)
    report.delete_204 = sum(answered.values())
    twice = [path for path, count in answered.items() if count > 1]
    if twice:
        problems.append(f"{len(twice)} membership(s) removed twice, e.g. {twice[0]}")
    if report.expired + report.kept != len(pairs):
        problems.append(f"accounted {report.expired + report.kept} of {len(pairs)} grants")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grants", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--connection-string", default=os.environ.get("AzureWebJobsStorage"),  # noqa: SIM112
                        help="the storage account for the grants table (default: $AzureWebJobsStorage); "
                             "its guestgrants table is emptied first")
    args = parser.parse_args(argv)
    if not args.connection_string:
        parser.error("give --connection-string (e.g. Azurite's) or set AzureWebJobsStorage")
    logging.getLogger().addHandler(logging.NullHandler())
    logging.getLogger("azure").setLevel(logging.WARNING)
    with Simulator(random_seed=args.seed) as sim:
        os.environ["REQUESTS_CA_BUNDLE"] = str(sim.ca_path)
        report = run_grant_soak(sim, args.connection_string, GrantSoakConfig(grants=args.grants, seed=args.seed))
    print(report.summary())
    for problem in report.problems()[:50]:
        print(f"FAILED: {problem}")
    return 1 if report.problems() else 0


if __name__ == "__main__":
    sys.exit(main())
