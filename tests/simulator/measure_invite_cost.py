"""How long the simulator takes per invitation as the directory grows (a measurement, not a test).

Each round is what the app does for one new guest: the documented existence check
(`GET /users?$filter=userPrincipalName eq … or mail eq … or proxyAddresses/any(…) or otherMails/any(…)`) and
`POST /invitations`, over one keep-alive HTTPS session. Run from the repository root:

    python tests/simulator/measure_invite_cost.py [--users 10 5000] [--invites 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import requests

from simulator import Simulator

ROLES = ["User.Invite.All", "User.Read.All", "GroupMember.ReadWrite.All"]


def lookup_filter(address: str) -> str:
    quoted = address.replace("'", "''")
    return (f"userPrincipalName eq '{quoted}' or mail eq '{quoted}' or proxyAddresses/any(x:x eq 'SMTP:{quoted}') "
            f"or otherMails/any(x:x eq '{quoted}')")


def measure(users: int, invites: int) -> tuple[float, float]:
    """Median and p90 milliseconds per (lookup + invitation), with ``users`` guests already in the directory."""
    with Simulator(throttling=False) as sim:
        for n in range(users):
            sim.graph.add_user(f"seeded{n}@partner{n % 50}.example", user_type="Guest",
                               other_mails=[f"seeded{n}@partner{n % 50}.example"], external_user_state="Accepted")
        token = sim.tokens.issue({"aud": sim.graph_endpoint, "tid": sim.tenant_id, "appid": "measure",
                                  "roles": ROLES}, lifetime=3600)
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        session.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would override verify
        session.verify = str(sim.ca_path)
        base = sim.graph_endpoint + "/v1.0"
        timings = []
        for n in range(invites):
            address = f"new{n}@guests.example"
            started = time.perf_counter()
            found = session.get(base + "/users", params={"$filter": lookup_filter(address)}, timeout=30)
            created = session.post(base + "/invitations", timeout=30, json={
                "invitedUserEmailAddress": address, "inviteRedirectUrl": "https://myapps.microsoft.com"})
            timings.append((time.perf_counter() - started) * 1000)
            assert found.status_code == 200 and found.json()["value"] == [] and created.status_code == 201
        timings.sort()
        return statistics.median(timings), timings[int(len(timings) * 0.9)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[10, 5000])
    parser.add_argument("--invites", type=int, default=200)
    args = parser.parse_args()
    for users in args.users:
        median, p90 = measure(users, args.invites)
        print(f"{users:>6} users: {median:.2f} ms median, {p90:.2f} ms p90 per lookup + invitation "
              f"({args.invites} invites)")


if __name__ == "__main__":
    main()
