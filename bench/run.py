"""Performance figures against the simulator, printed as a table (docs/performance.md says how to read them).

    .venv/bin/python bench/run.py [--invocations 1000] [--cold-rounds 9] [--bulk run|skip]

- Graph round trips per onboarding (HTTP invite + the membership invocations it queues), counted by the simulator;
- token fetches and TLS connections to Graph per N invocations in one worker process (1 thread, then 4);
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
import subprocess
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cold_start import cold_start
from bench.host_model import ROOT, app_settings, invite, membership_handler
from shared import runtime
from simulator import Simulator

Row = tuple[str, str, str, bool | None]  # measure, figure, goal, met (None: informational)


def round_trips(sim: Simulator) -> list[Row]:
    """Graph requests for one onboarding: the HTTP invite, then one membership invocation per queued message."""
    from azure.functions.queue import QueueMessage

    # Existing members are added too (ALLOW_MEMBER_USERS), so both rows measure the same flow.
    runtime.reset(environ=app_settings(sim, ALLOW_MEMBER_USERS="true"))
    handler = membership_handler([])
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
                handler(QueueMessage(id="m", body=message.encode(), dequeue_count=1))
            calls = sim.stats.count(service="graph") - before
            # Per group: the user's read (membership policy and lag probe), then the write.
            goal = 2 * k + 2 if kind == "new guest" else 2 * k + 1
            rows.append((f"Graph round trips, {kind}, k={k} groups", str(calls), f"{goal} (2k+{goal - 2 * k})",
                         calls <= goal))
    return rows


def worker_run(sim: Simulator, invocations: int, threads: int) -> dict:
    """One worker process doing ``invocations`` invocations; the simulator's own counts added."""
    groups = [sim.graph.add_group(f"Worker group {n}")["id"] for n in range(3)]
    bodies = []
    for number in range(invocations):
        if number % 2:
            email = f"w{threads}.member{number}@{sim.tenant_domain}"
            sim.graph.add_user(email)
        else:
            email = f"w{threads}.guest{number}@partner{number % 5}.example"
        bodies.append({"email": email, "groupIds": [groups[number % 3]]})
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as plan:
        json.dump({"bodies": bodies, "invocations": invocations, "threads": threads}, plan)
    sim.stats.reset()
    environment = {**os.environ, **app_settings(sim), "REQUESTS_CA_BUNDLE": str(sim.ca_path)}
    try:
        output = subprocess.run(  # noqa: S603 (our own interpreter, fixed code)
                  [sys.executable, "-m", "bench.invocations", plan.name], cwd=ROOT, env=environment,
                                capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(plan.name)
    result = json.loads(output.strip().splitlines()[-1])
    result["token_fetches"] = sim.stats.count(service="login", route="token")
    result["connections"] = sim.stats.connections["graph"]
    result["graph_calls"] = sim.stats.count(service="graph")
    return result


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def worker_rows(single: dict, pooled: dict, threads: int) -> list[Row]:
    n = single["invocations"]
    first, overheads = single["overheads_ms"][0], single["overheads_ms"][1:]  # the first call is the cold one
    p50, p99 = percentile(overheads, 0.50), percentile(overheads, 0.99)
    rss_mid, rss_end = (single["rss"][str(k)]["VmRSS"] / 1024 for k in (n // 2, n))
    peak = single["final"]["VmHWM"] / 1024
    return [
        (f"token fetches per {n} invocations (1 thread)", str(single["token_fetches"]), "1 per token lifetime",
         single["token_fetches"] <= 1),
        (f"token fetches per {pooled['invocations']} invocations ({threads} threads)", str(pooled["token_fetches"]),
         "1 per token lifetime", pooled["token_fetches"] <= 1),
        (f"TLS connections to Graph per {n} invocations (1 thread)", str(single["connections"]), "1",
         single["connections"] <= 1),
        (f"TLS connections to Graph per {pooled['invocations']} invocations ({threads} threads)",
         str(pooled["connections"]), f"<= {threads}", pooled["connections"] <= threads),
        ("invite handler overhead, first (cold) call: imports msal, fetches the token", f"{first:.1f} ms",
         "informational", None),
        (f"invite handler overhead p50 ({len(overheads)} warm calls)", f"{p50:.2f} ms", "informational", None),
        (f"invite handler overhead p99 ({len(overheads)} warm calls)", f"{p99:.2f} ms", "< 5 ms", p99 < 5.0),
        (f"worker RSS after {n // 2} / {n} invocations", f"{rss_mid:.1f} / {rss_end:.1f} MB", "no growth",
         rss_end - rss_mid < 1.0),
        (f"worker peak RSS (VmHWM) after {n} invocations", f"{peak:.1f} MB", "< 100 MB", peak < 100),
    ]


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
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--cold-rounds", type=int, default=9)
    parser.add_argument("--bulk", choices=("run", "skip"), default="run",
                        help="run bench/bulk.py (35 s) or take its figure from docs/bulk.md")
    args = parser.parse_args(argv)
    logging.getLogger().addHandler(logging.NullHandler())
    print(machine())
    rows: list[Row] = []
    with Simulator() as sim:
        os.environ["REQUESTS_CA_BUNDLE"] = str(sim.ca_path)
        rows += round_trips(sim)
        runtime.reset()
        sim.throttling = False  # the worker runs measure the app, not Graph's invitation limit
        single = worker_run(sim, args.invocations, 1)
        pooled = worker_run(sim, args.invocations, args.threads)
    rows += worker_rows(single, pooled, args.threads)
    ratio, app_ms, base_ms, top = cold_start(args.cold_rounds)
    rows.append(("cold start: import function_app + settings / azure.functions+msal+requests",
                 f"{ratio:.2f}x", "<= 1.3x", ratio <= 1.3))
    rows.append(("  (medians: app / baseline)", f"{app_ms:.0f} / {base_ms:.0f} ms", "informational", None))
    rows.append(bulk_row(args.bulk))
    print_table(rows)
    print("heaviest imports beyond the baseline (cumulative ms):",
          ", ".join(f"{name} {ms:.1f}" for name, ms in top) or "none")
    return 0 if all(met is not False for *_, met in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
