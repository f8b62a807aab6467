"""What the claim per address (shared/claims.py) costs in storage requests, counted on the wire.

    AzureWebJobsStorage=<Azurite connection string> python bench/claims_cost.py [--invitations 20]

A counting proxy sits in front of the storage account's table endpoint (the app is pointed at it through
``AzureWebJobsStorage``'s ``TableEndpoint``); invitations go through the real ``invite`` function (devhost's
worker) against the simulator. For each invitation: the table requests in all, and those the proxy received
before the simulator recorded the invitation POST (it records a request once answered; the outcome is written only
after the app has that answer, so these are the requests on the way to the POST: the latency the claim adds).
Then the same for a request that joins a recorded outcome (a racer, or a lookup that misses a guest not yet
replicated).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.host_model import app_settings, invite
from shared import runtime
from shared.claims import TABLE
from simulator import Simulator

INVITE_POST = r"/invitations$"


@dataclass
class Forwarded:
    at: float
    method: str
    path: str
    status: int


class CountingProxy(ThreadingHTTPServer):
    """Forwards every request to ``target`` (http://host:port) and records it."""

    daemon_threads = True

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.requests: list[Forwarded] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Forward)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _Forward(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: CountingProxy

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _forward(self) -> None:
        at = time.time()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        upstream = http.client.HTTPConnection(*self.server.target, timeout=30)
        headers = {name: value for name, value in self.headers.items() if name.lower() != "host"}
        upstream.request(self.command, self.path, body=body or None, headers=headers)
        response = upstream.getresponse()
        payload = response.read()
        with self.server.lock:
            self.server.requests.append(Forwarded(at, self.command, self.path, response.status))
        self.send_response(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        upstream.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_MERGE = _forward


def proxied(connection: str, proxy_url: str) -> str:
    """The connection string with its TableEndpoint through the proxy (the account name stays in the path)."""
    return re.sub(r"TableEndpoint=http://[^/;]+", f"TableEndpoint={proxy_url}", connection)


@dataclass
class ClaimCost:
    invitations: int
    table_requests: list[int]  # per invitation: requests to the claim table
    before_post: list[int]  # per invitation: table requests (any table) before Graph answered the POST
    joined_requests: list[int]  # per request that joined a recorded outcome: requests to the claim table
    all_tables: list[int]  # per invitation: requests to every table (the status record's too, shared/status.py)
    joined_posts: int  # invitation POSTs those joining requests sent (must be 0)


def measure(sim: Simulator, connection: str, invitations: int = 20) -> ClaimCost:
    """Run against a started simulator whose CA the process trusts and an Azurite at ``connection``."""
    from azure.data.tables import TableServiceClient

    service = TableServiceClient.from_connection_string(connection)
    service.delete_table(TABLE)
    service.create_table(TABLE)  # as infra creates it: the first invitation pays no Create Table
    proxy = CountingProxy(re.search(r"TableEndpoint=(http://[^/;]+)", connection)[1])
    try:
        runtime.reset(environ=app_settings(sim, AzureWebJobsStorage=proxied(connection, proxy.url)))
        invite(json.dumps({"email": f"megan@{sim.tenant_domain}"}).encode())  # token, imports; a member: no claim
        cost = ClaimCost(invitations, table_requests=[], before_post=[], joined_requests=[], all_tables=[],
                         joined_posts=0)
        for number in range(invitations):
            email = f"claim.cost.{number}@partner.example"
            first = len(proxy.requests)
            cost.table_requests.append(_one(sim, proxy, email, cost.before_post))
            cost.all_tables.append(len(proxy.requests) - first)
        # A request whose lookup misses the new guest (replication) joins the recorded outcome: no POST.
        sim.graph.replication_hides_lookups = True
        sim.replication_lag = 3600.0
        for number in range(min(invitations, 5)):
            email = f"claim.join.{number}@partner.example"
            invite(json.dumps({"email": email}).encode())
            posts = sim.stats.count(service="graph", method="POST", path=INVITE_POST)
            cost.joined_requests.append(_one(sim, proxy, email, []))
            cost.joined_posts += sim.stats.count(service="graph", method="POST", path=INVITE_POST) - posts
        return cost
    finally:
        proxy.close()
        runtime.reset()


def _one(sim: Simulator, proxy: CountingProxy, email: str, before_post: list[int]) -> int:
    first = len(proxy.requests)
    answered = invite(json.dumps({"email": email}).encode())
    assert answered.status in (200, 201), answered.body
    mine = proxy.requests[first:]
    posts = [r.at for r in sim.stats.requests
             if r.service == "graph" and r.method == "POST" and re.search(INVITE_POST, r.path) and r.at >= mine[0].at]
    if posts and answered.status == 201:
        before_post.append(sum(1 for r in mine if r.at < posts[0]))
    return sum(1 for r in mine if f"/{TABLE}" in r.path)


def rows(cost: ClaimCost) -> list[tuple[str, str, str, bool | None]]:
    most = max(cost.table_requests)
    before = max(cost.before_post)
    return [
        ("claim-table requests per new-guest invitation (claim + outcome)", f"{most} (max of {cost.invitations})",
         "informational", None),
        ("table requests before the invitation POST (any table)", f"{before} (max)", "<= 1", before <= 1),
        ("table requests per new-guest invitation, every table", f"{max(cost.all_tables)} (max)", "informational",
         None),
        ("claim-table requests of a request joining a recorded outcome", f"{max(cost.joined_requests)} (max)",
         "informational", None),
        ("  invitation POSTs it sent", str(cost.joined_posts), "0", cost.joined_posts == 0),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invitations", type=int, default=20)
    parser.add_argument("--storage", default=os.environ.get("AzureWebJobsStorage"),  # noqa: SIM112 (host's name)
                        help="an Azurite connection string with a TableEndpoint (default: AzureWebJobsStorage)")
    args = parser.parse_args(argv)
    if not args.storage or "TableEndpoint=http://" not in args.storage:
        print("error: give --storage (an Azurite connection string with TableEndpoint=http://...)", file=sys.stderr)
        return 2
    with Simulator() as sim:
        os.environ["REQUESTS_CA_BUNDLE"] = str(sim.ca_path)
        table = rows(measure(sim, args.storage, args.invitations))
    for measure_name, figure, goal, met in table:
        print(f"{measure_name:<62} {figure:<22} {goal:<14} {'' if met is None else 'yes' if met else 'NO'}")
    return 0 if all(met is not False for *_, met in table) else 1


if __name__ == "__main__":
    sys.exit(main())
