"""Operators are told (infra/app/alerts.bicep): three log alert rules and three saved queries on the workspace, each
query read from infra/app/queries/*.kql, shown verbatim in docs/doctor.md, and naming only events and fields the
app really logs. A syntax and consistency check: the KQL itself is not run here (no workspace offline)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "infra" / "app"
QUERIES = sorted((APP / "queries").glob("*.kql"))
DOCTOR = (ROOT / "docs" / "doctor.md").read_text(encoding="utf-8")
SHARED = "\n".join(path.read_text(encoding="utf-8") for path in (ROOT / "shared").rglob("*.py"))


@pytest.fixture(scope="module")
def alerts() -> dict[str, Any]:
    return BicepParser().parse(text=(APP / "alerts.bicep").read_text(encoding="utf-8"))


def _loaded(entries: list[dict[str, Any]]) -> dict[str, str]:
    return {entry["name"]: entry["query"]["function"]["parameters"]["file_path"] for entry in entries}


def test_three_alert_rules_and_three_saved_queries_over_the_workspace(alerts):
    resources = alerts["resources"]
    assert resources["alerts"]["type"] == "Microsoft.Insights/scheduledQueryRules"
    assert resources["queries"]["type"] == "Microsoft.OperationalInsights/workspaces/savedSearches"
    assert resources["logAnalytics"]["existing"] is True
    assert _loaded(alerts["variables"]["alertRules"]["value"]) == {
        "poison": "queries/alert-poison.kql", "health": "queries/alert-health.kql",
        "throttling": "queries/alert-throttling.kql"}
    assert _loaded(alerts["variables"]["savedQueries"]["value"]) == {
        "guest-onboarding-invitations-per-day": "queries/invitations-per-day.kql",
        "guest-onboarding-membership-latency": "queries/membership-latency.kql",
        "guest-onboarding-failures-by-reason": "queries/failures-by-reason.kql"}


def test_one_poison_or_one_503_fires_and_429s_only_above_the_threshold(alerts):
    rules = {rule["name"]: rule for rule in alerts["variables"]["alertRules"]["value"]}
    assert rules["poison"]["threshold"] == 0 and rules["health"]["threshold"] == 0
    assert rules["throttling"]["threshold"] == "throttledCallsThreshold"
    assert alerts["parameters"]["throttledCallsThreshold"]["default"] == 20
    text = (APP / "alerts.bicep").read_text(encoding="utf-8")
    for setting in ("timeAggregation: 'Count'", "operator: 'GreaterThan'", "evaluationFrequency: 'PT5M'",
                    "windowSize: 'PT5M'", "autoMitigate: false", "logAnalytics.id"):
        assert setting in text


def test_the_alert_address_is_passed_from_azd_to_the_alerts_module():
    parser = BicepParser()
    main = parser.parse(text=(ROOT / "infra" / "main.bicep").read_text(encoding="utf-8"))
    monitoring = parser.parse(text=(APP / "monitoring.bicep").read_text(encoding="utf-8"))
    assert main["modules"]["monitoring"]["config"]["params"]["alertEmailAddress"] == "alertEmailAddress"
    assert monitoring["modules"]["alerts"]["config"]["params"]["alertEmailAddress"] == "alertEmailAddress"
    assert monitoring["modules"]["alerts"]["detail"]["path"] == "alerts.bicep"


def test_every_query_file_is_used_and_shown_verbatim_in_docs_doctor(alerts):
    used = set(_loaded(alerts["variables"]["alertRules"]["value"]).values()) | set(
        _loaded(alerts["variables"]["savedQueries"]["value"]).values())
    assert used == {f"queries/{path.name}" for path in QUERIES}
    for path in QUERIES:
        assert f"```kusto\n{path.read_text(encoding='utf-8')}```" in DOCTOR, f"{path.name} not shown as it is"


@pytest.mark.parametrize("path", QUERIES, ids=lambda path: path.name)
def test_queries_name_only_events_and_fields_the_app_logs(path: Path):
    query = path.read_text(encoding="utf-8")
    events = set(re.findall(r'"([a-z_]+\.[a-z_]+)"', query))
    fields = set(re.findall(r"Properties\.([A-Za-z]+)", query)) - {"event"}
    for event in events:
        assert f'log_event("{event}"' in SHARED, f"{path.name}: no record {event!r} is logged"
    for field in fields:
        assert re.search(rf"\b{field}=", SHARED), f"{path.name}: no record has a field {field!r}"
