"""Fault soak: onboardings through the real handlers while the simulated Graph misbehaves.

    python bench/soak.py [--onboardings 1000] [--seed 8]

Each onboarding (a new guest, an existing guest or an existing member; 1-3 groups) is an HTTP ``invite`` call
(retried as a Logic App's default policy would on 408/429/5xx), whose queue output goes to an in-process
``group-memberships`` queue run by :class:`bench.host_model.QueueModel` (redelivery after host.json's
visibilityTimeout on the simulated clock, poison after its maxDequeueCount). Graph meanwhile answers 10% of
requests 429 with Retry-After, 5% 503, drops 2% of connections (half before the request is handled, half after
it was applied) and answers 1% after the client's read timeout; a new user stays invisible to membership writes
for 0-120 simulated seconds. The app's own waits move the simulated clock, so minutes of lag pass in no time.
With ``--racing``, that share of the new guests is asked
for by ``racers`` callers at the same moment (threads), as two Logic App runs, a queue message and a SharePoint row
for one person would: the claim per address (shared/claims.py) must still give one invitation (no address has an
invitation POST applied by two requests) and one userId. ``--repeat-email always`` makes the simulator email every
repeat invitation, so any second POST also shows as a duplicate email.

A wait (replication lag, 429/503 past the invocation's budget) puts the message back with a visibility delay through
the app's storage account (Azurite: ``--storage``, default ``AzureWebJobsStorage`` or UseDevelopmentStorage=true); the
model takes it off Azurite and makes it visible after that delay on the simulated clock (bench.host_model.PutBack).
The report gives directory writes per membership (goal, issue 17: <= 1.1 for new guests under lag).
``--restart-every N`` starts a new process (a fresh application context, as a scaled-out or restarted instance)
every N onboardings; it starts from the first delay the earlier ones shared through the status table
(shared/lag.py), or from the default 5 s with ``--no-share`` (the entity is deleted before each new process).

The client's read timeout is ``shared.graph.READ_TIMEOUT`` (20 s); the soak builds the app's Graph client with 1 s
(``runtime.Timing.graph_read_timeout``) so a slow answer costs one real second instead of twenty. The report's
:meth:`SoakReport.problems` lists every violated guarantee; the script exits 1 when there is one.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.graph_probe import GraphProbe
from bench.host_model import (
    PutBack,
    QueueModel,
    app_settings,
    forget_learned_delay,
    invite,
    membership_handler,
    queue_settings,
    simulated_timing,
)
from bench.soak_report import Onboarding, SoakReport, account
from shared import runtime
from simulator import Fault, Simulator

LOGIC_APP_RETRIES = 4  # Logic Apps' default retry policy: exponential, 4 retries, honours Retry-After
LOGIC_APP_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
SOAK_READ_TIMEOUT = 1.0  # the Graph client never waits less than 1 s (shared/graph.py _send)
SOAK_CLAIM_SECONDS = 5  # > a holder's real time here: up to 3 POSTs answered at 1.6 s, waits simulated


@dataclass
class SoakConfig:
    onboardings: int = 1000
    seed: int = 8
    throttled: float = 0.10  # 429 with Retry-After
    unavailable: float = 0.05  # 503
    dropped: float = 0.02  # connection closed without an answer (half before, half after the work)
    slow: float = 0.01  # answered after the client's read timeout
    retry_after: int = 2
    slow_latency: float = 1.6  # real seconds: past SOAK_READ_TIMEOUT
    max_lag: float = 120.0  # simulated seconds a new user stays invisible to membership writes
    arrival_interval: float = 0.5  # simulated seconds between onboardings
    groups: int = 6
    kinds: dict[str, float] = field(default_factory=lambda: {"new": 0.5, "guest": 0.25, "member": 0.25})
    racing: float = 0.0  # share of new guests asked for by several callers at once
    repeat_email: str | None = None  # the simulator's repeat_invitation_email ("never", "pending", "always")
    racers: int = 3  # callers per racing address
    # A new process (a Functions instance scaled out, or restarted) every this many onboardings (0: one process
    # throughout): the application context is rebuilt, so the learned first delay starts from what the earlier
    # processes shared through storage (shared.lag), or, with share_delay False, from the default every time.
    restart_every: int = 0
    share_delay: bool = True


def add_faults(sim: Simulator, config: SoakConfig) -> dict[str, Fault]:
    """The rules are tried in order and the first that fires wins, so each probability is conditioned on the
    earlier rules not firing: the overall rates are then exactly the configured ones."""
    left = 1.0
    rules: dict[str, tuple[float, dict[str, Any]]] = {
        "429": (config.throttled, {"status": 429, "retry_after": config.retry_after}),
        "503": (config.unavailable, {"status": 503}),
        "dropped": (config.dropped / 2, {"drop": True}),
        "dropped_after_work": (config.dropped / 2, {"drop_after": True}),
        "slow": (config.slow, {"latency": config.slow_latency}),
    }
    faults = {}
    for name, (rate, effect) in rules.items():
        faults[name] = sim.faults.add(service="graph", path=r"^/v1\.0/", probability=rate / left, **effect)
        left -= rate
    return faults


def population(sim: Simulator, config: SoakConfig, rng: random.Random) -> tuple[list[str], list[Onboarding]]:
    """Groups and onboardings: new guests (some with an apostrophe: OData quoting under load), seeded guests
    (pending and accepted) and seeded members, a few of them already in one of their groups."""
    groups = [sim.graph.add_group(f"Soak group {n}")["id"] for n in range(config.groups)]
    kinds, weights = zip(*config.kinds.items(), strict=True)
    onboardings = []
    for number in range(config.onboardings):
        kind = rng.choices(kinds, weights)[0]
        wanted = rng.sample(groups, rng.randint(1, 3))
        if kind == "new":
            local = f"o'guest.{number}" if number % 10 == 0 else f"guest.{number}"
            email = f"{local}@partner{number % 7}.example"
            if config.racing and rng.random() < config.racing:  # no draw without racing: same runs as before
                race = [Onboarding(number, kind, email, wanted, race=number)
                        for _ in range(config.racers)]
                onboardings += race
                continue
        elif kind == "guest":
            email = f"known.{number}@fabrikam{number % 5}.example"
            state = rng.choice(["PendingAcceptance", "Accepted"])
            sim.graph.add_user(email, user_type="Guest", other_mails=[email], external_user_state=state)
        else:
            email = f"staff.{number}@{sim.tenant_domain}"
            user = sim.graph.add_user(email)
            if rng.random() < 0.2:  # seeded state, not a Graph call: already in the first wanted group
                with sim.graph.lock:
                    sim.graph.groups[wanted[0]].members.append(user["id"])
        onboardings.append(Onboarding(number, kind, email, wanted))
    return groups, onboardings


def call_invite(sim: Simulator, onboarding: Onboarding) -> None:
    """The HTTP call, with a Logic App's default retries (Retry-After honoured, on the simulated clock)."""
    body = json.dumps({"email": onboarding.email, "groupIds": onboarding.groups}).encode("utf-8")
    for attempt in range(LOGIC_APP_RETRIES + 1):
        result = invite(body)
        onboarding.http_statuses.append(result.status)
        onboarding.answer = result.body
        if result.status >= 400 and isinstance(result.body, dict):
            onboarding.problems.append(str(result.body.get("type", "")).rsplit(":", 1)[-1])
        if result.status not in LOGIC_APP_RETRY_STATUSES or attempt == LOGIC_APP_RETRIES:
            onboarding.messages = result.messages
            return
        retry_after = result.headers.get("Retry-After")
        sim.clock.advance(float(retry_after) if retry_after else 7.5 * 2 ** attempt)


def _arrivals(onboardings: list[Onboarding]) -> list[Onboarding | list[Onboarding]]:
    """Each onboarding alone, the callers of one racing address together."""
    arrivals: list[Onboarding | list[Onboarding]] = []
    for onboarding in onboardings:
        if onboarding.race is not None and arrivals and isinstance(arrivals[-1], list) \
                and arrivals[-1][0].race == onboarding.race:
            arrivals[-1].append(onboarding)
        else:
            arrivals.append([onboarding] if onboarding.race is not None else onboarding)
    return arrivals


def _race(sim: Simulator, callers: list[Onboarding]) -> None:
    """The callers' HTTP calls at the same moment (one thread each)."""
    if len(callers) == 1:
        call_invite(sim, callers[0])
        return
    start = threading.Barrier(len(callers))

    def call(onboarding: Onboarding) -> None:
        start.wait()
        call_invite(sim, onboarding)

    threads = [threading.Thread(target=call, args=(caller,)) for caller in callers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _forget_claims(storage: str) -> None:
    """A fresh simulated tenant: an earlier run's claims (shared/claims.py) name users this one never had."""
    from azure.data.tables import TableServiceClient

    from shared.claims import TABLE

    TableServiceClient.from_connection_string(storage).delete_table(TABLE)


def run_soak(sim: Simulator, config: SoakConfig, storage: str) -> SoakReport:
    """Run the soak against a started simulator whose CA the process trusts, with ``storage`` (an Azurite
    connection string) as the app's storage account; return the accounting."""
    rng = random.Random(config.seed)
    groups, onboardings = population(sim, config, rng)
    max_dequeue_count, visibility_timeout = queue_settings()
    put_back = PutBack(storage)
    timing = replace(simulated_timing(sim), graph_read_timeout=SOAK_READ_TIMEOUT, queue_delay=put_back.record)
    if config.repeat_email:  # "always": a second invitation of one address WOULD email again
        sim.graph.repeat_invitation_email = config.repeat_email
    _forget_claims(storage)
    forget_learned_delay(storage)  # a fresh app: nothing learned yet
    # The claim's expiry must exceed the longest a holder takes, in real time (claims compare wall clocks across
    # instances). Here the app's waits are simulated, so a holder takes at most its slowest answers: 1.6 s each.
    environ = app_settings(sim, ALLOWED_GROUP_IDS=",".join(groups), AzureWebJobsStorage=storage,
                           INVITE_CLAIM_SECONDS=str(SOAK_CLAIM_SECONDS))
    runtime.reset(environ=environ, timing=timing)
    probe = GraphProbe(runtime.graph().session)
    exchanges: list[Any] = []  # the exchanges of earlier processes' Graph sessions (restarts)
    queue = QueueModel(sim.clock, max_dequeue_count, visibility_timeout)
    poison: list[str] = []
    handler = membership_handler(poison, put_back, queue)
    faults = add_faults(sim, config)
    started, simulated_start = time.monotonic(), sim.clock.now()
    report_restarts = 0
    try:
        next_arrival = sim.clock.now()
        arrived = 0
        for onboarding in _arrivals(onboardings):
            if config.restart_every and arrived >= config.restart_every * (report_restarts + 1):
                # A new process: every per-process object (Graph client, learned delay) starts afresh; the queue
                # and the storage account (where the learned delay is shared) are the app's, they stay.
                probe.detach()
                exchanges.extend(probe.exchanges)
                if not config.share_delay:
                    forget_learned_delay(storage)
                runtime.reset(environ=environ, timing=timing)
                probe = GraphProbe(runtime.graph().session)
                report_restarts += 1
            # One worker: the messages visible by the next arrival first (the clock may have run ahead of the
            # arrivals, moved by the app's waits), then the next onboarding.
            queue.run(handler, until=max(next_arrival, sim.clock.now()))
            if sim.clock.now() < next_arrival:
                sim.clock.advance(next_arrival - sim.clock.now())
            sim.replication_lag = rng.uniform(0, config.max_lag)
            racers = onboarding if isinstance(onboarding, list) else [onboarding]
            _race(sim, racers)
            for racer in racers:
                for message in racer.messages:
                    queue.put(message)
            arrived += len(racers)
            next_arrival = max(next_arrival, sim.clock.now()) + config.arrival_interval
        queue.run(handler)
    finally:
        probe.detach()
        sim.faults.clear()
    if faults["slow"].hits:
        time.sleep(config.slow_latency)  # let the last late answer land: its effects belong in the accounting
    probe.exchanges[:0] = exchanges
    report = account(sim, onboardings, queue, poison, probe)
    report.restarts = report_restarts
    report.throttling_injected = config.throttled > 0
    report.put_back_missing = put_back.missing
    report.fault_hits = {name: fault.hits for name, fault in faults.items()}
    report.real_seconds = time.monotonic() - started
    report.simulated_seconds = sim.clock.now() - simulated_start
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--onboardings", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--racing", type=float, default=0.0,
                        help="share of new guests asked for by 3 callers at once")
    parser.add_argument("--repeat-email", choices=("never", "pending", "always"),
                        help="whether the simulator emails a repeat invitation (default: its own, never)")
    parser.add_argument("--storage", default=os.environ.get("AzureWebJobsStorage") or "UseDevelopmentStorage=true",  # noqa: SIM112
                        help="the app's storage account (Azurite): waiting messages are put back through it")
    parser.add_argument("--restart-every", type=int, default=0, metavar="N",
                        help="start a new process (fresh application context) every N onboardings")
    parser.add_argument("--no-share", action="store_true",
                        help="with --restart-every: each new process starts from the default first delay")
    parser.add_argument("--lag-only", action="store_true",
                        help="no injected faults, new guests only: what replication lag alone costs")
    args = parser.parse_args(argv)
    logging.getLogger().addHandler(logging.NullHandler())  # the app logs every retry; the summary is enough here
    with Simulator(random_seed=args.seed) as sim:
        os.environ["REQUESTS_CA_BUNDLE"] = str(sim.ca_path)
        config = SoakConfig(onboardings=args.onboardings, seed=args.seed, racing=args.racing,
                            repeat_email=args.repeat_email, restart_every=args.restart_every,
                            share_delay=not args.no_share)
        if args.lag_only:
            config = replace(config, throttled=0.0, unavailable=0.0, dropped=0.0, slow=0.0, kinds={"new": 1.0})
        report = run_soak(sim, config, args.storage)
        runtime.reset()
    print(report.summary())
    problems = report.problems()
    for problem in problems:
        print(f"FAILED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
