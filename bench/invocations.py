"""A worker process for bench/run.py: N invocations through the real handlers in one process, like one Functions
worker, against a simulator started by the parent (which counts token fetches and connections on its side).

    python -m bench.invocations PLAN.json     (the environment carries the app settings and REQUESTS_CA_BUNDLE)

The plan lists the HTTP bodies; each HTTP ``invite`` invocation is followed by one ``add_membership`` invocation per
message it output. Prints one JSON line: the invite handler's overhead per call (its time minus the time its
Graph requests took, measured by :class:`bench.graph_probe.GraphProbe`), and VmRSS after the middle and the last
invocation plus VmHWM (the peak), from /proc/self/status.

Logging is on as deployed (host.json: Information): the root logger at INFO with a handler that formats every
record, as the Python worker does before sending it to the host. The plan's ``cpu_bodies`` (single thread only)
then measure the client CPU of each invite (``time.thread_time``) in alternating blocks: half with the Graph
session's ``trust_env`` off (as shipped: environment read once) and on (requests' default: proxies looked up per
request), half with logging at Information and off.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from azure.functions.queue import QueueMessage

from bench.graph_probe import GraphProbe
from bench.host_model import invite, membership_handler
from shared import runtime


def memory_kib() -> dict[str, int]:
    """VmRSS (now) and VmHWM (the peak so far) of this process, in KiB."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


class Worker:
    def __init__(self, total: int, *, single_thread: bool) -> None:
        self.total = total
        self.single_thread = single_thread  # only then can Graph's time be attributed to one call
        self.count = 0
        self.lock = threading.Lock()
        self.overheads_ms: list[float] = []
        self.statuses: dict[int, int] = {}
        self.rss: dict[str, dict[str, int]] = {}
        self.poison: list[str] = []
        self.handler = membership_handler(self.poison)

    def _claim(self) -> bool:
        """Count one more invocation, unless the total is reached; the memory is read at N/2 and N."""
        with self.lock:
            if self.count >= self.total:
                return False
            self.count += 1
            if self.count in (self.total // 2, self.total):
                self.rss[str(self.count)] = memory_kib()
            return True

    def run_thread(self, probe: GraphProbe, bodies: list[bytes]) -> None:
        for body in bodies:
            if not self._claim():
                return
            before = len(probe.exchanges)
            started = time.perf_counter()
            result = invite(body)
            elapsed = time.perf_counter() - started
            waited = None
            if self.single_thread:
                waited = sum(e.seconds for e in probe.exchanges[before:])
                del probe.exchanges[before:]  # the probe must not grow the memory being measured
            with self.lock:
                self.statuses[result.status] = self.statuses.get(result.status, 0) + 1
                if waited is not None:
                    self.overheads_ms.append((elapsed - waited) * 1000)
            for number, message in enumerate(result.messages):
                if not self._claim():
                    return
                self.handler(QueueMessage(id=f"m-{number}", body=message.encode("utf-8"), dequeue_count=1))


class HostLogHandler(logging.Handler):
    """Stands in for the worker's log channel: formats each record (the worker sends the text to the host over
    gRPC) and keeps the last few, so the cost of producing a log line is paid and nothing grows."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.sent: collections.deque[str] = collections.deque(maxlen=100)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.sent.append(self.format(record))
        self.count += 1


def production_logging(level: str) -> HostLogHandler | None:
    """host.json's logLevel (Information) on the root logger, as the worker sets it; "off" for comparison."""
    root = logging.getLogger()
    if level == "off":
        root.addHandler(logging.NullHandler())
        root.setLevel(logging.CRITICAL)
        return None
    handler = HostLogHandler()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return handler


def paired_cpu(bodies: list[bytes], block: int, switch: Callable[[bool], None]) -> dict:
    """Client CPU per invite (ms, ``time.thread_time``) in blocks of ``block`` invites, alternating ``switch(False)``
    (as shipped) and ``switch(True)`` (the alternative); the order flips each pair, so drift in the machine's load
    falls on both, and the ratio shipped / alternative is taken per pair (median of the pairs' ratios)."""
    per_mode: dict[bool, list[float]] = {False: [], True: []}
    ratios = []
    pairs = len(bodies) // (2 * block)
    for pair in range(pairs):
        medians = {}
        for index, alternative in enumerate((False, True) if pair % 2 == 0 else (True, False)):
            switch(alternative)
            start = (2 * pair + index) * block
            spent = []
            for body in bodies[start:start + block]:
                before = time.thread_time()
                invite(body)
                spent.append((time.thread_time() - before) * 1000)
            medians[alternative] = statistics.median(spent)
            per_mode[alternative] += spent
        ratios.append(medians[False] / medians[True])
    switch(False)
    if not ratios:
        return {"pairs": 0}
    return {"pairs": pairs, "ratio_median": statistics.median(ratios),
            "shipped_ms": statistics.median(per_mode[False]), "alternative_ms": statistics.median(per_mode[True])}


def trust_env_switch() -> Callable[[bool], None]:
    """The Graph session as shipped (environment read once) or with requests' default ``trust_env`` (proxies looked
    up in the environment on every request): the session before issue 17."""
    session = runtime.graph().session
    shipped_proxies = dict(session.proxies)

    def switch(per_request: bool) -> None:
        session.trust_env = per_request
        session.proxies = {} if per_request else dict(shipped_proxies)

    return switch


def logging_switch() -> Callable[[bool], None]:
    """The worker's logging at Information (as deployed) or off (the former bench)."""
    root = logging.getLogger()

    def switch(off: bool) -> None:
        root.setLevel(logging.CRITICAL if off else logging.INFO)

    return switch


def main() -> None:
    plan = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    log_handler = production_logging(plan.get("logging", "information"))
    bodies = [json.dumps(body).encode("utf-8") for body in plan["bodies"]]
    threads = int(plan.get("threads", 1))
    worker = Worker(int(plan["invocations"]), single_thread=threads == 1)
    runtime.reset()
    probe = GraphProbe(runtime.graph().session)  # builds the runtime: no Graph or token call yet
    if threads == 1:
        worker.run_thread(probe, bodies)
    else:
        shares = [bodies[index::threads] for index in range(threads)]
        pool = [threading.Thread(target=worker.run_thread, args=(probe, share)) for share in shares]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
    final = memory_kib()
    log_records = log_handler.count if log_handler else 0  # the N invocations' records, before the CPU pairs
    probe.detach()
    cpu_bodies = [json.dumps(b).encode("utf-8") for b in plan.get("cpu_bodies", [])]
    half, block = len(cpu_bodies) // 2, int(plan.get("block", 20))
    cpu = paired_cpu(cpu_bodies[:half], block, trust_env_switch())
    logging_cpu = paired_cpu(cpu_bodies[half:], block, logging_switch()) if log_handler else {"pairs": 0}
    print(json.dumps({"invocations": worker.count, "overheads_ms": worker.overheads_ms, "statuses": worker.statuses,
                      "rss": worker.rss, "final": final, "poison": len(worker.poison), "cpu": cpu,
                      "logging_cpu": logging_cpu,
                      "log_records": log_records, "environment_size": len(os.environ)}))


if __name__ == "__main__":
    main()
