"""``GET /api/health``: called through the real Functions worker (devhost), and over real HTTP through devhost's
loopback server, which enforces the function key."""

from __future__ import annotations

import json

import azure.functions as func
import pytest
import requests

import devhost
from devhost.http_server import HttpServer
from shared import health

from .conftest import by_name, failing

pytestmark = pytest.mark.azurite


def call_health() -> func.HttpResponse:
    called = devhost.worker().http("health", "GET", "http://localhost:7071/api/health")
    called.raise_error()
    assert called.response is not None
    return called.response


def test_the_health_function_requires_a_function_key():
    trigger = devhost.worker().functions["health"].trigger()
    assert trigger["authLevel"].lower() == "function"
    assert trigger["route"] == "health" and [m.upper() for m in trigger["methods"]] == ["GET"]


@pytest.mark.parametrize("mode", ["secret", "user"])
def test_healthy_app_answers_200_with_the_report_never_cached_by_proxies(tenant, mode):
    tenant.configure(mode)
    response = call_health()
    report = json.loads(response.get_body())
    assert response.status_code == 200 and report["ok"] is True, failing(report)
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Type"].startswith("application/json")
    assert by_name(report)["permission User.Invite.All"]["status"] == "ok"


@pytest.mark.parametrize("role", ["User.Invite.All", "GroupMember.ReadWrite.All", "User.Read.All"])
def test_a_withheld_role_answers_503_naming_the_role_and_its_fix(tenant, role):
    tenant.configure("system")
    tenant.sim.identity.revoke(tenant.principal.client_id, role)
    response = call_health()
    report = json.loads(response.get_body())
    assert response.status_code == 503 and report["ok"] is False
    check = by_name(report)[f"permission {role}"]
    assert check["status"] == "missing"
    assert f"--principal-id {tenant.principal.object_id}" in check["fix"]


def test_the_report_is_cached_so_pings_do_not_reach_graph_each_time(tenant):
    tenant.configure()
    for _ in range(3):
        assert call_health().status_code == 200
    assert tenant.sim.stats.count(service="graph", method="GET", path=r"/v1\.0/users") == 1
    assert tenant.sim.identity.token_requests[tenant.principal.client_id] == 1


def test_a_cached_report_expires(tenant):
    tenant.configure()
    now = [1000.0]
    first = health.current_report(clock=lambda: now[0])
    now[0] += health.CACHE_SECONDS - 1
    assert health.current_report(clock=lambda: now[0]) is first
    now[0] += 2
    assert health.current_report(clock=lambda: now[0]) is not first
    assert tenant.sim.stats.count(service="graph", method="GET", path=r"/v1\.0/users") == 2


def test_a_fix_shows_once_the_cache_expires_and_a_new_token_is_issued(tenant):
    tenant.configure()
    tenant.sim.identity.revoke(tenant.principal.client_id, "User.Invite.All")
    assert call_health().status_code == 503
    tenant.sim.identity.grant(tenant.principal.client_id, "User.Invite.All")
    tenant.configure()  # a restarted app: new token (a running one gets it when its cached token is renewed)
    assert call_health().status_code == 200


def test_over_http_without_a_key_is_refused_and_with_one_answers(tenant):
    tenant.configure()
    host = HttpServer(devhost.worker())
    try:
        anonymous = requests.get(host.url("health", with_key=False), timeout=30)
        keyed = requests.get(host.url("health"), timeout=30)
    finally:
        host.close()
    assert anonymous.status_code == 401 and b"checks" not in anonymous.content
    assert keyed.status_code == 200 and keyed.json()["ok"] is True


def test_no_token_or_secret_in_the_answer_or_the_logs(tenant, caplog):
    caplog.set_level("DEBUG")
    tenant.configure()
    tenant.sim.identity.revoke(tenant.principal.client_id, "User.Read.All")
    body = call_health().get_body().decode()
    seen = body + caplog.text
    assert tenant.sim.tokens.issued and not any(token in seen for token in tenant.sim.tokens.issued)
    assert tenant.principal.secret not in seen
    assert "health.checked" in caplog.text  # the outcome is logged (names of failing checks only)
