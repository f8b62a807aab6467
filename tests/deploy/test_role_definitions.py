"""The Azure RBAC roles the template assigns are the documented built-in ones, and only those."""

from __future__ import annotations

import re
from pathlib import Path

from tests.deploy.bicep_text import bracketed, guids, strip_comments

INFRA = Path(__file__).resolve().parents[2] / "infra"
RBAC = INFRA / "app" / "rbac.bicep"

# Built-in role definition ids as published by Microsoft, learn.microsoft.com/azure/role-based-access-control/
# built-in-roles/{storage,monitor} (each role's JSON "name" field), with what needs the role.
DOCUMENTED_ROLES = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": ("Storage Blob Data Owner", "storage#storage-blob-data-owner"),
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": ("Storage Queue Data Contributor", "storage#storage-queue-..."),
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": ("Storage Table Data Contributor", "storage#storage-table-..."),
    "3913510d-42f4-4e42-8a64-420c390055eb": ("Monitoring Metrics Publisher", "monitor#monitoring-metrics-publisher"),
}
# Broad roles that must never appear (general.md / privileged.md of the same docs).
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
STORAGE_ACCOUNT_CONTRIBUTOR = "17d1049b-9a84-46fb-8f53-869881c3d3ab"


def _camel(role_name: str) -> str:
    words = role_name.split()
    return words[0].lower() + "".join(words[1:])


def test_rbac_module_names_exactly_the_documented_roles() -> None:
    assert guids(RBAC.read_text(encoding="utf-8")) == set(DOCUMENTED_ROLES)


def test_no_other_guid_anywhere_in_infra() -> None:
    found: set[str] = set()
    for bicep in INFRA.rglob("*.bicep"):
        found |= guids(bicep.read_text(encoding="utf-8"))
    assert found <= set(DOCUMENTED_ROLES)
    assert not found & {OWNER, CONTRIBUTOR, STORAGE_ACCOUNT_CONTRIBUTOR}


def test_each_role_id_is_held_by_a_var_named_for_its_role() -> None:
    # A swapped id (queue role under the blob name) would grant the wrong data plane without anyone noticing.
    text = strip_comments(RBAC.read_text(encoding="utf-8"))
    held = dict(re.findall(r"^var (\w+) = '([0-9a-f-]{36})'$", text, re.MULTILINE))
    assert held == {_camel(name): role_id for role_id, (name, _) in DOCUMENTED_ROLES.items()}


def _resource_block(text: str, symbol: str) -> str:
    match = re.search(rf"^resource {symbol} '[^']+' = ", text, re.MULTILINE)
    assert match is not None, f"no resource {symbol}"
    return bracketed(text, match.end()) if text[match.end()] in "[{" else ""


def test_storage_roles_are_scoped_to_the_storage_account_and_metrics_publisher_to_app_insights() -> None:
    text = strip_comments(RBAC.read_text(encoding="utf-8"))
    storage_roles = _resource_block(text, "appStorageRoles")
    assert "for roleId in storageRoles" in storage_roles
    assert "scope: storage\n" in storage_roles
    storage_list = re.search(r"var storageRoles = (\[[^\]]*\])", text)
    assert storage_list is not None
    assert storage_list.group(1).split() == [
        "[",
        "storageBlobDataOwner",
        "storageQueueDataContributor",
        "storageTableDataContributor",
        "]",
    ]
    publisher = _resource_block(text, "appMetricsPublisher")
    assert "scope: applicationInsights\n" in publisher
    assert "monitoringMetricsPublisher)" in publisher


def test_the_app_identity_is_assigned_as_a_service_principal() -> None:
    text = strip_comments(RBAC.read_text(encoding="utf-8"))
    for symbol in ("appStorageRoles", "appMetricsPublisher"):
        block = _resource_block(text, symbol)
        assert "principalId: appPrincipalId" in block
        assert "principalType: 'ServicePrincipal'" in block
