"""Benchmark (not a test): `cli.py bulk` with 1,000 rows against the simulator, Graph's invitation limit on.

    .venv/bin/python bench/bulk.py [--rows 1000] [--concurrency 8] [--lag 2]

Reports the wall time as a ratio to the limit's floor (rows / 30 per second: 150 invitations per 5 s per tenant,
MGDC throttling-limits.md) and the number of 429 answers met. Each row also joins one group, so the membership
batches and the replication lag (``--lag`` seconds) are part of the run. Directory writes are the requests the
simulator counted against Graph's "identity and access writes" budget (each $batch step, each PATCH, 429s
included), per membership the run made; lost rows and addresses emailed more than once are counted from the
simulated tenant itself.

With ``AzureWebJobsStorage`` in the environment (e.g. an Azurite connection string) the run uses the app's storage
as an operator's would: the invitation claims, and each row's status record (the summary's "Status records" line
counts the storage requests). Without it, neither.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.host_model import app_settings
from guest_cli.bulk.command import BulkOptions, run_bulk
from shared import runtime
from simulator import Simulator
from simulator.graph.models import PARTNERS_GROUP_ID

INVITATIONS_PER_SECOND = 150 / 5.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--lag", type=float, default=2.0, help="replication lag of new guests, seconds")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-bulk-"))
    path = workdir / "people.csv"
    path.write_text("email,displayName,groupIds\n" + "".join(
        f"bench{n:05d}@fabrikam.com,Bench {n},{PARTNERS_GROUP_ID}\n" for n in range(args.rows)), encoding="utf-8")
    with Simulator(replication_lag=args.lag, throttling=True) as sim:
        os.environ.update(app_settings(sim, REQUESTS_CA_BUNDLE=str(sim.ca_path), ALLOWED_GROUP_IDS=PARTNERS_GROUP_ID))
        runtime.reset()
        members_before = len(sim.graph.members_of(PARTNERS_GROUP_ID))
        out = io.StringIO()
        started = time.monotonic()
        code = run_bulk(path, BulkOptions(concurrency=args.concurrency, results=str(workdir / "results.csv")),
                        out, sys.stderr)
        elapsed = time.monotonic() - started
        throttled = sum(1 for r in sim.stats.requests if r.service == "graph" and r.status == 429)
        invitations = sim.stats.count(service="graph", method="POST", path=r"/invitations$")
        batches = sim.stats.count(service="graph", path=r"/\$batch$")
        members = len(sim.graph.members_of(PARTNERS_GROUP_ID)) - members_before
        writes = sim.graph.spent["directory_writes"]
        patches = sim.stats.count(service="graph", method="PATCH", path=r"/groups/")
        emailed = sim.graph.emails_by_address()
        invited = {f"bench{n:05d}@fabrikam.com" for n in range(args.rows)}
        lost = sum(1 for address in invited if sim.graph.user_by_mail(address) is None) + (args.rows - members)
        doubled = sum(1 for address, count in emailed.items() if address in invited and count > 1)
    floor = args.rows / INVITATIONS_PER_SECOND
    print(out.getvalue(), end="")
    print(f"rows={args.rows} concurrency={args.concurrency} lag={args.lag:g}s exit={code}")
    print(f"wall time {elapsed:.1f} s; the limit's floor {floor:.1f} s; ratio {elapsed / floor:.2f}")
    print(f"429 answers met: {throttled}; POST /invitations sent: {invitations}; $batch requests: {batches}; "
          f"new Partners members: {members}")
    print(f"directory writes {writes} ({patches} PATCH members@odata.bind); per membership "
          f"{writes / max(1, members):.3f}; lost {lost}; addresses emailed more than once {doubled}")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
