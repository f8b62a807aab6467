"""A stand-in for ``az rest`` against Microsoft Graph, to run scripts/grant-graph-permissions.sh offline.

Run as a program (the tests put an ``az`` wrapper for it first on PATH). It keeps a tiny tenant in the JSON file
named by ``FAKE_AZ_STATE`` and appends every call to ``FAKE_AZ_LOG`` (JSON lines). The answers follow the Graph
docs for the calls the script makes (serviceprincipal-get, serviceprincipal-list, serviceprincipal-list-
approleassignments, serviceprincipal-post-approleassignedto, site-getbypath, site-list-permissions,
site-post-permissions). ``--query`` is evaluated with jmespath, the library the real Azure CLI uses, so the
script's queries are checked for real.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jmespath

Answer = tuple[int, Any]


def _error(status: int, code: str, message: str) -> Answer:
    return status, {"error": {"code": code, "message": message}}


def _service_principals(state: dict, method: str, parts: list[str], query: dict, body: Any) -> Answer:
    sps = state["servicePrincipals"]
    if len(parts) == 1 and method == "GET":
        wanted = query.get("$filter", [""])[0]
        return 200, {"value": [sp for sp in sps.values() if f"appId eq '{sp['appId']}'" == wanted]}
    sp_id = parts[1]
    if sp_id not in sps:
        return _error(404, "Request_ResourceNotFound", f"Resource '{sp_id}' does not exist.")
    if len(parts) == 2 and method == "GET":
        return 200, sps[sp_id]
    if parts[2:] == ["appRoleAssignments"] and method == "GET":
        return 200, {"value": [a for a in state["assignments"] if a["principalId"] == sp_id]}
    if parts[2:] == ["appRoleAssignedTo"] and method == "POST":
        return _assign(state, sp_id, body)
    return _error(405, "Request_BadRequest", f"{method} not supported here")


def _assign(state: dict, resource_id: str, body: dict) -> Answer:
    if state.get("denyAppRoles"):
        return _error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
    roles = {role["id"] for role in state["servicePrincipals"][resource_id].get("appRoles", [])}
    if body.get("resourceId") != resource_id or body.get("appRoleId") not in roles:
        return _error(400, "Request_BadRequest", "Invalid resourceId or appRoleId.")
    if body.get("principalId") not in state["servicePrincipals"]:
        return _error(404, "Request_ResourceNotFound", "Principal does not exist.")
    key = (body["principalId"], resource_id, body["appRoleId"])
    if any((a["principalId"], a["resourceId"], a["appRoleId"]) == key for a in state["assignments"]):
        return _error(400, "Request_BadRequest", "Permission being assigned already exists on the object")
    assignment = {"id": str(uuid.uuid4()), **body}
    state["assignments"].append(assignment)
    return 201, assignment


def _sites(state: dict, method: str, parts: list[str], body: Any) -> Answer:
    sites = state["sites"]
    if len(parts) == 2 and method == "GET":
        site = sites.get(parts[1]) or next((s for s in sites.values() if s["id"] == parts[1]), None)
        return (200, {"id": site["id"]}) if site else _error(404, "itemNotFound", "Requested site could not be found")
    site = next((s for s in sites.values() if s["id"] == parts[1]), None)
    if site is None or parts[2:] != ["permissions"]:
        return _error(404, "itemNotFound", "Not found")
    if method == "GET":
        return 200, {"value": site["permissions"]}
    if state.get("denySites"):
        return _error(403, "accessDenied", "Access denied")
    permission = {"id": str(len(site["permissions"]) + 1), **body, "grantedToIdentitiesV2": body["grantedToIdentities"]}
    site["permissions"].append(permission)
    return 201, permission


def route(state: dict, method: str, url: str, body: Any) -> Answer:
    split = urlsplit(url)
    path = unquote(split.path)
    if not path.startswith("/v1.0/"):
        return _error(404, "NotFound", f"not a Graph v1.0 path: {path}")
    parts = path[len("/v1.0/") :].split("/")
    if parts[0] == "servicePrincipals":
        return _service_principals(state, method, parts, parse_qs(split.query), body)
    if parts[0] == "sites":
        # /sites/{host}:/{path} arrives split on '/': join the site key back together.
        if len(parts) > 2 and parts[1].endswith(":"):
            parts = ["sites", "/".join(parts[1:])]
        return _sites(state, method, parts, body)
    return _error(404, "NotFound", path)


def _tsv(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(_tsv(item) for item in value)
    if isinstance(value, dict):
        return "\t".join(_tsv(item) for item in value.values())
    return str(value)


def main(argv: list[str]) -> int:
    if argv[:1] != ["rest"]:
        print("fake az: only 'az rest' is implemented", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog="az rest")
    for option in ("--method", "--url", "--resource", "--body", "--query"):
        parser.add_argument(option)
    parser.add_argument("--headers", nargs="*", default=[])
    parser.add_argument("--output", "-o", default="json")
    parser.add_argument("--only-show-errors", action="store_true")
    args = parser.parse_args(argv[1:])
    body = json.loads(args.body) if args.body else None
    with open(os.environ["FAKE_AZ_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps({"method": args.method.upper(), "url": args.url, "resource": args.resource, "body": body}))
        log.write("\n")
    if not (args.resource and args.url.startswith(args.resource.rstrip("/") + "/")):
        print(f"ERROR: token audience {args.resource!r} does not match {args.url!r}", file=sys.stderr)
        return 1
    with open(os.environ["FAKE_AZ_STATE"], encoding="utf-8") as file:
        state = json.load(file)
    status, payload = route(state, args.method.upper(), args.url, body)
    with open(os.environ["FAKE_AZ_STATE"], "w", encoding="utf-8") as file:
        json.dump(state, file)
    if status >= 400:
        print(f"ERROR: ({status}) {json.dumps(payload)}", file=sys.stderr)
        return 1
    result = jmespath.search(args.query, payload) if args.query else payload
    if args.output == "none":
        return 0
    print(_tsv(result) if args.output == "tsv" else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
