"""Performance figures against the simulator, printed as a table (docs/performance.md says how to read them).

    .venv/bin/python bench/run.py [--invocations 1000] [--runs 5] [--cold-rounds 9] [--bulk run|skip]

Timed figures are taken ``--runs`` times (a fresh simulator per worker run) and shown as median (min-max); the
workers log as deployed (host.json: Information) unless ``--logging off``.

- Graph round trips per onboarding (HTTP invite + the membership invocations it queues), counted by the simulator;
- token fetches and TLS connections to Graph per N invocations in one worker process (1, 4, 12 and 16 threads);
- client CPU per invite with the Graph session's environment read once vs requests' per-request lookup (paired);
- the invite handler's overhead (its time minus its Graph requests' time, simulator at zero added latency);
- cold start: ``import function_app`` + settings, as a ratio to importing azure.functions + msal + requests;
- the worker's RSS after N/2 and N invocations and its peak;
- bulk throughput as a ratio to Graph's invitation limit, from bench/bulk.py.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cold_start import cold_start, heaviest_imports
from bench.host_model import (
    ROOT,
    PutBack,
    QueueModel,
    app_settings,
    invite,
    membership_handler,
    queue_settings,
    simulated_timing,
)
from shared import runtime
from simulator import Simulator

Row = tuple[str, str, str, bool | None]  # measure, figure, goal, met (None: informational)


def round_trips(sim: Simulator, storage: str) -> list[Row]:
    """Graph requests for one onboarding: the HTTP invite, then every membership invocation its messages take until
    settled, held copies included (a new guest's message is first put back on the queue for the learned delay, with
    no Graph call): the put-back copies go through ``storage`` (Azurite) into a queue model on the simulated clock,
    as in the soak. The invite writes its status record and claim there too."""
    # Existing members are added too (ALLOW_MEMBER_USERS), so both rows measure the same flow.
    put_back = PutBack(storage)
    timing = replace(simulated_timing(sim), queue_delay=put_back.record)
    runtime.reset(environ=app_settings(sim, ALLOW_MEMBER_USERS="true", AzureWebJobsStorage=storage), timing=timing)
    max_dequeue_count, visibility_timeout = queue_settings()
    model = QueueModel(sim.clock, max_dequeue_count, visibility_timeout)
    handler = membership_handler([], put_back, model)
    groups = [sim.graph.add_group(f"Bench group {n}")["id"] for n in range(3)]
    invite(json.dumps({"email": "warm-up@contoso.onmicrosoft.com"}).encode())  # the token fetch is not a Graph call
    rows: list[Row] = []
    for kind in ("new guest", "existing member"):
        for k in (1, 2, 3):
            email = f"rt.{k}@partner.example" if kind == "new guest" else f"member.rt{k}@{sim.tenant_domain}"
            if kind == "existing member":
                sim.graph.add_user(email)
            before = sim.stats.count(service="graph")
            result = invite(json.dumps({"email": email, "groupIds": groups[:k]}).encode())
            for message in result.messages:
                model.put(message)
            model.run(handler)
            calls = sim.stats.count(service="graph") - before
            # Per group: the user's read (membership policy and lag probe), then the write.
            goal = 2 * k + 2 if kind == "new guest" else 2 * k + 1
            rows.append((f"Graph round trips, {kind}, k={k} groups", str(calls), f"{goal} (2k+{goal - 2 * k})",
                         calls <= goal))
    return rows


THREADS = (1, 4, 12, 16)


def plan_bodies(sim: Simulator, count: int, tag: str) -> list[dict]:
    """Invite bodies: new guests and existing members alternately, one of 3 groups each."""
    groups = [sim.graph.add_group(f"Worker group {tag}{n}")["id"] for n in range(3)]
    bodies = []
    for number in range(count):
        if number % 2:
            email = f"{tag}.member{number}@{sim.tenant_domain}"
            sim.graph.add_user(email)
        else:
            email = f"{tag}.guest{number}@partner{number % 5}.example"
        bodies.append({"email": email, "groupIds": [groups[number % 3]]})
    return bodies


def worker_run(invocations: int, threads: int, *, cpu_invites: int = 0, log_level: str = "information",
               settings: dict[str, str] | None = None) -> dict:
    """One worker process doing ``invocations`` invocations (then ``cpu_invites`` invites for the trust_env
    pairs) against a fresh simulator; the simulator's own counts added."""
    with Simulator() as sim:
        sim.throttling = False  # the worker runs measure the app, not Graph's invitation limit
        plan = {"bodies": plan_bodies(sim, invocations, f"w{threads}"), "invocations": invocations,
                "threads": threads, "cpu_bodies": plan_bodies(sim, cpu_invites, "cpu"), "logging": log_level}
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as plan_file:
            json.dump(plan, plan_file)
        sim.stats.reset()
        environment = {**os.environ, **app_settings(sim), "REQUESTS_CA_BUNDLE": str(sim.ca_path), **(settings or {})}
        try:
            output = subprocess.run(  # noqa: S603 (our own interpreter, fixed code)
                      [sys.executable, "-m", "bench.invocations", plan_file.name], cwd=ROOT, env=environment,
                                    capture_output=True, text=True, check=True).stdout
        finally:
            os.unlink(plan_file.name)
        result = json.loads(output.strip().splitlines()[-1])
        result["token_fetches"] = sim.stats.count(service="login", route="token")
        result["connections"] = sim.stats.connections["graph"]
        result["graph_calls"] = sim.stats.count(service="graph")
    return result


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def one_run(invocations: int, cpu_invites: int, cold_rounds: int, log_level: str) -> dict[str, float]:
    """Every timed or counted figure of one run, by name."""
    figures: dict[str, float] = {}
    for threads in THREADS:
        result = worker_run(invocations, threads, cpu_invites=cpu_invites if threads == 1 else 0,
                            log_level=log_level)
        figures[f"connections {threads}"] = result["connections"]  # a count, not a rate: it does not scale with N
        figures[f"token fetches {threads}"] = result["token_fetches"]
        if threads == 1:
            single = result
    # Before this change the session kept 10 connections: the same 16-thread run with that pool, for comparison.
    old_pool = worker_run(invocations, 16, log_level=log_level, settings={"GRAPH_CONNECTION_POOL_SIZE": "10"})
    figures["connections 16 pool 10"] = old_pool["connections"]
    n = single["invocations"]
    overheads = single["overheads_ms"][1:]  # the first call is the cold one
    figures |= {"first": single["overheads_ms"][0], "p50": percentile(overheads, 0.50),
                "p99": percentile(overheads, 0.99), "rss mid": single["rss"][str(n // 2)]["VmRSS"] / 1024,
                "rss end": single["rss"][str(n)]["VmRSS"] / 1024, "peak": single["final"]["VmHWM"] / 1024,
                "log records per invocation": single["log_records"] / n,
                "environment size": single["environment_size"]}
    if single["cpu"]["pairs"]:
        figures |= {"cpu read once": single["cpu"]["shipped_ms"], "cpu per request": single["cpu"]["alternative_ms"],
                    "cpu ratio": single["cpu"]["ratio_median"]}
    if single["logging_cpu"]["pairs"]:
        figures |= {"cpu logging": single["logging_cpu"]["shipped_ms"],
                    "cpu no logging": single["logging_cpu"]["alternative_ms"],
                    "logging ratio": single["logging_cpu"]["ratio_median"]}
    ratio, app_ms, base_ms, _ = cold_start(cold_rounds)
    figures |= {"cold ratio": ratio, "cold app": app_ms, "cold base": base_ms}
    return figures


def spread(runs: list[dict[str, float]], name: str, form: str = "{:.2f}") -> str:
    """median (min-max) over the runs."""
    values = [run[name] for run in runs if name in run]
    if not values:
        return "not measured"
    middle = form.format(statistics.median(values))
    if len(values) == 1:
        return middle
    return f"{middle} ({form.format(min(values))}-{form.format(max(values))})"


def worker_rows(runs: list[dict[str, float]], invocations: int, log_level: str = "information") -> list[Row]:
    """Rows judged on the median run; the spread is shown in the figure."""
    def median(name: str) -> float:
        return statistics.median(run[name] for run in runs)

    rows: list[Row] = []
    for threads in THREADS:
        rows.append((f"TLS connections to Graph per {invocations} invocations, {threads} thread(s)",
                     spread(runs, f"connections {threads}", "{:.0f}"), f"<= {threads}",
                     max(run[f"connections {threads}"] for run in runs) <= threads))
    rows.append(("  the same, 16 threads, with the former pool of 10 (GRAPH_CONNECTION_POOL_SIZE=10)",
                 spread(runs, "connections 16 pool 10", "{:.0f}"), "informational", None))
    rows.append((f"token fetches per {invocations} invocations, 1/4/12/16 threads (max over runs)",
                 "/".join(str(int(max(run[f"token fetches {t}"] for run in runs))) for t in THREADS),
                 "1 per token lifetime", all(run[f"token fetches {t}"] <= 1 for run in runs for t in THREADS)))
    rows += [
        ("invite handler overhead, first (cold) call: imports msal, fetches the token", spread(runs, "first", "{:.1f}")
         + " ms", "informational", None),
        (f"invite handler overhead p50 ({invocations // 2 - 1} warm calls)", spread(runs, "p50") + " ms",
         "informational", None),
        (f"invite handler overhead p99 ({invocations // 2 - 1} warm calls)", spread(runs, "p99") + " ms", "< 5 ms",
         median("p99") < 5.0),
        (f"log records per invocation (worker logging: {log_level})",
         spread(runs, "log records per invocation"), "informational", None),
        (f"worker RSS after {invocations // 2} invocations", spread(runs, "rss mid", "{:.1f}") + " MB",
         "informational", None),
        (f"worker RSS after {invocations} invocations", spread(runs, "rss end", "{:.1f}") + " MB", "no growth",
         median("rss end") - median("rss mid") < 1.0),
        (f"worker peak RSS (VmHWM) after {invocations} invocations", spread(runs, "peak", "{:.1f}") + " MB",
         "< 100 MB", median("peak") < 100),
        ("client CPU per invite, environment read once (shipped)", spread(runs, "cpu read once", "{:.3f}") + " ms",
         "informational", None),
        ("  (the worker's environment: variables scanned by each proxy lookup)", spread(runs, "environment size",
         "{:.0f}"), "informational", None),
        ("client CPU per invite, trust_env on (requests' default)", spread(runs, "cpu per request", "{:.3f}") + " ms",
         "informational", None),
        ("  paired ratio read once / per request (median of pairs)", spread(runs, "cpu ratio", "{:.3f}"), "< 1",
         median("cpu ratio") < 1.0 if "cpu ratio" in runs[0] else None),
        ("client CPU per invite, logging at Information / off", spread(runs, "cpu logging", "{:.3f}") + " / "
         + spread(runs, "cpu no logging", "{:.3f}") + " ms", "informational", None),
        ("  paired ratio Information / off (median of pairs)", spread(runs, "logging ratio", "{:.3f}"),
         "informational", None),
        ("cold start: import function_app + settings / azure.functions+msal+requests", spread(runs, "cold ratio")
         + "x", "<= 1.3x", median("cold ratio") <= 1.3),
        ("  app / baseline (medians of the rounds)", spread(runs, "cold app", "{:.0f}") + " / "
         + spread(runs, "cold base", "{:.0f}") + " ms", "informational", None),
    ]
    return rows


def bulk_row(mode: str) -> Row:
    """bench/bulk.py's wall time as a ratio to the invitation limit's floor (run it, or read docs/bulk.md)."""
    if mode == "run":
        text = subprocess.run(  # noqa: S603 (our own interpreter, fixed code)
                [sys.executable, str(ROOT / "bench" / "bulk.py")], cwd=ROOT, capture_output=True,
                              text=True, check=False).stdout
        found = re.search(r"ratio (\d+\.\d+)", text)
        source = "bench/bulk.py, this run"
    else:
        found = re.search(r"ratio of \*\*(\d+\.\d+)\*\*", (ROOT / "docs" / "bulk.md").read_text(encoding="utf-8"))
        source = "docs/bulk.md"
    if not found:
        return ("bulk throughput (wall time / limit's floor)", "not measured", "close to 1.0", None)
    ratio = float(found.group(1))
    return (f"bulk: 1,000 invitations, wall time / limit's floor ({source})", f"{ratio:.2f}", "close to 1.0",
            ratio <= 1.2)


def print_table(rows: list[Row]) -> None:
    width = max(len(row[0]) for row in rows)
    print(f"{'measure':<{width}}  {'figure':>16}  {'goal':<22} met")
    for measure, figure, goal, met in rows:
        shown = "-" if met is None else ("yes" if met else "NO")
        print(f"{measure:<{width}}  {figure:>16}  {goal:<22} {shown}")


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, {platform.platform()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invocations", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5, help="repeat the timed figures; each is shown median (min-max)")
    parser.add_argument("--cpu-invites", type=int, default=800,
                        help="invites for the paired CPU figures: half trust_env off/on, half logging on/off "
                             "(blocks of 20, alternating)")
    parser.add_argument("--cold-rounds", type=int, default=9)
    parser.add_argument("--logging", choices=("information", "off"), default="information",
                        help="the worker's logging: host.json's Information (as deployed), or off for comparison")
    parser.add_argument("--bulk", choices=("run", "skip"), default="run",
                        help="run bench/bulk.py (35 s) or take its figure from docs/bulk.md")
    args = parser.parse_args(argv)
    logging.getLogger().addHandler(logging.NullHandler())  # this process only counts round trips; workers log
    print(machine())
    print(f"load average at start: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    rows: list[Row] = []
    with Simulator() as sim:
        os.environ["REQUESTS_CA_BUNDLE"] = str(sim.ca_path)
        rows += round_trips(sim, os.environ.get("AzureWebJobsStorage") or "UseDevelopmentStorage=true")  # noqa: SIM112
        runtime.reset()
    runs = []
    for number in range(args.runs):
        runs.append(one_run(args.invocations, args.cpu_invites, args.cold_rounds, args.logging))
        print(f"run {number + 1}/{args.runs} done; load average {os.getloadavg()[0]:.2f}", file=sys.stderr)
    rows += worker_rows(runs, args.invocations, args.logging)
    rows.append(bulk_row(args.bulk))
    print_table(rows)
    print(f"{args.runs} runs, logging {args.logging}; load average at the end: "
          + " ".join(f"{value:.2f}" for value in os.getloadavg()))
    print("heaviest imports beyond the baseline (cumulative ms):",
          ", ".join(f"{name} {ms:.1f}" for name, ms in heaviest_imports()) or "none")
    return 0 if all(met is not False for *_, met in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
