"""The soak's accounting: where each onboarding ended, and which guarantee (if any) was broken."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from bench.graph_probe import GraphProbe
from bench.host_model import QueueModel
from simulator import Simulator


@dataclass
class Onboarding:
    number: int
    kind: str  # "new" | "guest" | "member"
    email: str
    groups: list[str]
    http_statuses: list[int] = field(default_factory=list)
    answer: Any = None
    problems: list[str] = field(default_factory=list)  # the problem type of each non-2xx answer, retries included
    messages: list[str] = field(default_factory=list)
    race: int | None = None  # the callers of one racing address share it

    @property
    def user_id(self) -> str | None:
        return self.answer.get("userId") if self.ok else None

    @property
    def ok(self) -> bool:
        return bool(self.http_statuses) and self.http_statuses[-1] in (200, 201) and isinstance(self.answer, dict)


@dataclass
class SoakReport:
    onboardings: int = 0
    kinds: Counter = field(default_factory=Counter)
    memberships_wanted: int = 0
    in_group: int = 0
    poisoned_with_reason: int = 0
    poison_reasons: Counter = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)
    refused_to_caller: list[str] = field(default_factory=list)  # final HTTP answer not 2xx (with its problem)
    http_statuses: Counter = field(default_factory=Counter)
    http_500: int = 0
    # Answers of each problem kind (retries included), and the onboardings that met a lost invitation answer
    # (invitation-unconfirmed: shared/onboarding.py) with how each finally ended.
    problem_kinds: Counter = field(default_factory=Counter)
    unconfirmed_endings: Counter = field(default_factory=Counter)
    duplicate_emails: list[str] = field(default_factory=list)
    racing_addresses: int = 0
    racers: int = 0
    racers_disagreeing: list[str] = field(default_factory=list)  # racing callers answered different userIds
    racing_pair_adds: int = 0  # membership adds for racing callers' (group, user): each caller queued its own
    # Of the duplicate emails: addresses whose invitation was posted by more than one request (callers racing past
    # the claim), and by one request only (its own second POST after a lost answer, shared/onboarding.py).
    raced_duplicates: list[str] = field(default_factory=list)
    replayed_duplicates: list[str] = field(default_factory=list)
    # Addresses for which Graph applied more than one invitation (the simulator's own record), split by whether more
    # than one request posted for the address: what the claim per address (racing requests) and the lost-answer rule
    # (one request's second POST) prevent, whether or not the simulator emails a repeat invitation.
    raced_invitations: list[str] = field(default_factory=list)
    replayed_invitations: list[str] = field(default_factory=list)
    # Addresses posted for by more than one request, each POST applied or lost (the client cannot tell which): after
    # a lost answer another request posts once the address's claim has expired (shared/onboarding.py), by design.
    posted_by_several: list[str] = field(default_factory=list)
    missing_emails: list[str] = field(default_factory=list)
    adds_after_seen_success: int = 0
    adds_after_lost_answer: int = 0
    member_add_attempts: int = 0
    new_guest_memberships: int = 0  # memberships wanted for guests invited by their own onboarding
    new_guest_writes: int = 0  # directory writes (membership adds that reached the directory) for those
    put_back: int = 0  # deliveries that ended by putting the message back with a delay (a wait, not a failure)
    put_back_missing: int = 0  # messages the app said it put back that never reached the queue
    host_poisoned: int = 0
    redeliveries: int = 0
    graph_calls: int = 0
    graph_429: int = 0
    graph_503: int = 0
    dropped: int = 0
    fault_hits: dict[str, int] = field(default_factory=dict)
    token_fetches: int = 0
    graph_connections: int = 0
    simulated_seconds: float = 0.0
    real_seconds: float = 0.0
    restarts: int = 0  # new processes started during the run (--restart-every)
    throttling_injected: bool = True  # False for a lag-only run: no 429 is expected then

    @property
    def writes_per_membership(self) -> float:
        """Membership adds that reached the directory, per membership wanted (every kind of onboarding)."""
        return self.member_add_attempts / self.memberships_wanted if self.memberships_wanted else 0.0

    @property
    def new_guest_writes_per_membership(self) -> float:
        """The same for new guests only: what replication lag costs (issue 17's goal: <= 1.1)."""
        return self.new_guest_writes / self.new_guest_memberships if self.new_guest_memberships else 0.0

    def problems(self) -> list[str]:
        """Each broken guarantee, readable; empty when the soak passed."""
        found = []
        if self.put_back_missing:
            found.append(f"{self.put_back_missing} messages put back never reached the queue")
        if self.lost:
            found.append(f"{len(self.lost)} memberships lost (neither in the group nor in poison): {self.lost[:5]}")
        if self.duplicate_emails:
            found.append(f"duplicate invitation emails to {self.duplicate_emails[:5]} ({len(self.raced_duplicates)} "
                         f"posted by several requests, {len(self.replayed_duplicates)} by one request after a lost "
                         "answer)")
        if self.raced_invitations:
            found.append(f"invitations applied for more than one request for {self.raced_invitations[:5]}")
        if self.replayed_invitations:
            found.append(f"invitations applied twice for one request for {self.replayed_invitations[:5]}")
        if self.racers_disagreeing:
            found.append(f"racing callers answered different userIds: {self.racers_disagreeing[:5]}")
        if self.missing_emails:
            found.append(f"new guests invited without an email: {self.missing_emails[:5]}")
        if self.adds_after_seen_success:
            found.append(f"{self.adds_after_seen_success} membership adds after the app had seen the success")
        if self.http_500:
            found.append(f"{self.http_500} HTTP 500 answers")
        if self.host_poisoned:
            found.append(f"{self.host_poisoned} messages poisoned by the host without a reason")
        if self.refused_to_caller:
            found.append(f"{len(self.refused_to_caller)} onboardings refused after the caller's retries: "
                         f"{self.refused_to_caller[:3]}")
        if self.graph_429 == 0 and self.throttling_injected:
            found.append("no 429 reached the app: the faults were not injected")
        return found

    def summary(self) -> str:
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(self.kinds.items()))
        reasons = "; ".join(f"{count}x {reason}" for reason, count in self.poison_reasons.most_common(4)) or "none"
        statuses = ", ".join(f"{status}: {count}" for status, count in sorted(self.http_statuses.items()))
        return "\n".join([
            f"onboardings            {self.onboardings} ({kinds})",
            f"memberships wanted     {self.memberships_wanted}: {self.in_group} in the group, "
            f"{self.poisoned_with_reason} in poison with a reason, {len(self.lost)} lost",
            f"poison reasons         {reasons}",
            f"HTTP answers           {statuses} (incl. the caller's retries); 500s: {self.http_500}; "
            f"refused after retries: {len(self.refused_to_caller)}",
            f"lost invite answers    {self.problem_kinds['invitation-unconfirmed']} answers 503 "
            f"invitation-unconfirmed, for {sum(self.unconfirmed_endings.values())} onboardings, ending "
            f"{_counts(self.unconfirmed_endings)}; 503 invitation-in-progress answers: "
            f"{self.problem_kinds['invitation-in-progress']}; all problems: {_counts(self.problem_kinds)}",
            f"invitation emails      duplicates: {len(self.duplicate_emails)} (posted by several requests: "
            f"{len(self.raced_duplicates)}; by one request after a lost answer: {len(self.replayed_duplicates)}), "
            f"new guests without one: {len(self.missing_emails)}",
            f"invitations applied    more than once: {len(self.raced_invitations) + len(self.replayed_invitations)} "
            f"addresses (posted by several requests: {len(self.raced_invitations)}; by one request: "
            f"{len(self.replayed_invitations)}); addresses posted for by several requests (applied or lost): "
            f"{len(self.posted_by_several)}",
            f"racing duplicates      {self.racers} callers for {self.racing_addresses} addresses; invitations "
            f"applied for more than one request: {len(self.raced_invitations)}; answered different userIds: "
            f"{len(self.racers_disagreeing)}; their {self.racing_pair_adds} membership adds "
            "are not judged per message",
            f"membership adds        {self.member_add_attempts} attempts seen by Graph; after a success the app saw: "
            f"{self.adds_after_seen_success}; after a lost answer (must re-ask): {self.adds_after_lost_answer}",
            f"directory writes       {self.writes_per_membership:.2f} per membership; new guests "
            f"{self.new_guest_writes_per_membership:.2f} ({self.new_guest_writes} for {self.new_guest_memberships})",
            f"queue                  {self.put_back} put back with a delay (waits); {self.redeliveries} redeliveries "
            f"(faults); poisoned by the host with no reason: {self.host_poisoned}",
            f"Graph                  {self.graph_calls} requests; 429: {self.graph_429}; 503: {self.graph_503}; "
            f"no answer: {self.dropped}; injected {self.fault_hits}",
            f"identity               {self.token_fetches} token fetches; {self.graph_connections} TLS connections "
            "to Graph",
            f"time                   {self.simulated_seconds / 60:.1f} simulated minutes in {self.real_seconds:.0f} s"
            f"; new processes started: {self.restarts}",
        ])


def account(sim: Simulator, onboardings: list[Onboarding], queue: QueueModel, poison: list[str],
            probe: GraphProbe) -> SoakReport:
    report = SoakReport(onboardings=len(onboardings), kinds=Counter(o.kind for o in onboardings))
    poisoned = {}
    for text in poison:
        entry = json.loads(text)
        message = entry.get("message") if isinstance(entry.get("message"), dict) else {}
        poisoned[(message.get("groupId", "").lower(), message.get("userId", "").lower())] = entry["error"]
    seen_duplicate: set[str] = set()
    for onboarding in onboardings:
        _account_onboarding(sim, report, onboarding, poisoned)
    # One entry per address: the racing callers of one address share its email count.
    report.duplicate_emails = [e for e in report.duplicate_emails if not (e in seen_duplicate or seen_duplicate.add(e))]
    _account_races(report, onboardings)
    _account_duplicates(report, probe, sim)
    # Each racing caller asked for its groups, so each queued its own memberships, each retried on its own: the
    # probe cannot tell whose add came after whose success, so those pairs are left out of that check (counted).
    racing_pairs = {(group_id.lower(), onboarding.user_id.lower()) for onboarding in onboardings
                    if onboarding.race is not None and onboarding.ok for group_id in onboarding.groups}
    _account_adds(report, probe, racing_pairs)
    report.member_add_attempts = sum(sim.graph.member_add_attempts.values())
    report.host_poisoned = len(queue.poison_by_host)
    report.redeliveries = sum(1 for delivery in queue.deliveries if delivery.outcome == "retry")
    report.put_back = sum(1 for delivery in queue.deliveries if delivery.outcome == "put-back")
    graph = [r for r in sim.stats.requests if r.service == "graph"]
    report.graph_calls = len(graph)
    report.graph_429 = sum(1 for r in graph if r.status == 429)
    report.graph_503 = sum(1 for r in graph if r.status == 503)
    report.dropped = sum(1 for r in graph if r.status == 0)
    report.token_fetches = sim.stats.count(service="login", route="token")
    report.graph_connections = sim.stats.connections["graph"]
    return report


def _counts(counter: Counter) -> str:
    return ", ".join(f"{key}: {count}" for key, count in sorted(counter.items(), key=str)) or "none"


def _account_onboarding(sim: Simulator, report: SoakReport, onboarding: Onboarding,
                        poisoned: dict[tuple[str, str], dict]) -> None:
    report.http_statuses.update(onboarding.http_statuses)
    report.problem_kinds.update(onboarding.problems)
    if "invitation-unconfirmed" in onboarding.problems:
        report.unconfirmed_endings[onboarding.http_statuses[-1]] += 1
    report.http_500 += onboarding.http_statuses.count(500)
    emails = sim.graph.emails_to(onboarding.email)
    if emails > 1:
        report.duplicate_emails.append(onboarding.email)
    report.memberships_wanted += len(onboarding.groups)
    if not onboarding.ok:
        problem = onboarding.answer if isinstance(onboarding.answer, dict) else {}
        report.refused_to_caller.append(f"#{onboarding.number} {onboarding.http_statuses[-1]} {problem.get('title')}")
        return
    if onboarding.kind == "new" and emails != 1:
        report.missing_emails.append(onboarding.email)
    user_id = onboarding.user_id.lower()
    if onboarding.kind == "new":
        report.new_guest_memberships += len(onboarding.groups)
        report.new_guest_writes += sum(sim.graph.member_add_attempts[(group_id.lower(), user_id)]
                                       for group_id in onboarding.groups)
    for group_id in onboarding.groups:
        error = poisoned.get((group_id.lower(), user_id))
        if user_id in sim.graph.members_of(group_id):
            report.in_group += 1
        elif error and error.get("message"):
            report.poisoned_with_reason += 1
            report.poison_reasons[f"{error.get('status')} {error.get('code')}"] += 1
        else:
            report.lost.append(f"#{onboarding.number} {onboarding.kind} group {group_id}")


def _account_duplicates(report: SoakReport, probe: GraphProbe, sim: Simulator) -> None:
    requests_by_address: dict[str, set[str | None]] = defaultdict(set)
    posted_by_address: dict[str, set[str | None]] = defaultdict(set)
    for exchange in probe.exchanges:
        address = exchange.invitation_for
        if address:
            requests_by_address[address].add(exchange.request_id)
            if exchange.status in (201, None):  # applied, or perhaps (a 429/503 refused before doing anything)
                posted_by_address[address].add(exchange.request_id)
    report.posted_by_several = sorted(address for address, senders in posted_by_address.items() if len(senders) > 1)
    applied = Counter(str(invitation.get("invitedUserEmailAddress", "")).casefold()
                      for invitation in sim.graph.invitations)
    for address in sorted(address for address, count in applied.items() if count > 1):
        several = len(posted_by_address.get(address, ())) > 1
        (report.raced_invitations if several else report.replayed_invitations).append(address)
    for email in report.duplicate_emails:
        senders = requests_by_address.get(email.casefold(), set())
        (report.raced_duplicates if len(senders) > 1 else report.replayed_duplicates).append(email)


def _account_races(report: SoakReport, onboardings: list[Onboarding]) -> None:
    races: dict[int, list[Onboarding]] = defaultdict(list)
    for onboarding in onboardings:
        if onboarding.race is not None:
            races[onboarding.race].append(onboarding)
    report.racing_addresses = len(races)
    report.racers = sum(len(callers) for callers in races.values())
    for number, callers in races.items():
        answered = {caller.user_id for caller in callers if caller.ok}
        if len(answered) > 1:
            report.racers_disagreeing.append(f"#{number}: {len(answered)} userIds")


def _account_adds(report: SoakReport, probe: GraphProbe, racing_pairs: set[tuple[str, str]]) -> None:
    """Membership adds sent after one for the same (group, user) was answered 204 or "already a member" (the
    soak's only 400 on that route): those after a lost answer are the app re-asking, as it must."""
    by_pair: dict[tuple[str, str], list[int | None]] = defaultdict(list)
    for exchange in probe.exchanges:
        pair = exchange.member_add
        if pair:
            by_pair[pair].append(exchange.status)
    for pair, statuses in by_pair.items():
        done = next((index for index, status in enumerate(statuses) if status in (204, 400)), None)
        if pair in racing_pairs:
            report.racing_pair_adds += len(statuses)
        elif done is not None:
            report.adds_after_seen_success += len(statuses) - done - 1
        report.adds_after_lost_answer += sum(1 for index, status in enumerate(statuses[1:], 1)
                                             if statuses[index - 1] is None and status == 400)
