"""Infra hardening (issue 13 item 5, issue 16 item 6): the azd principal gets only what `cli.py poison` needs,
storage network rules behind one parameter, no basic-auth publishing, azd's own variables and ignore rules, and
resource API versions that are the ones docs/deploy.md says were checked."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.deploy.bicep_text import bracketed, param_defaults, string_array, strip_comments

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"
RBAC = INFRA / "app" / "rbac.bicep"
STORAGE = INFRA / "app" / "storage.bicep"
FUNCTION = INFRA / "app" / "function.bicep"
PARAMETERS = INFRA / "main.parameters.json"


def text(path: Path) -> str:
    return strip_comments(path.read_text(encoding="utf-8"))


def resource_blocks(source: str) -> dict[str, tuple[str, str]]:
    """symbol -> (type@version, body) for every resource declaration."""
    blocks = {}
    for match in re.finditer(r"^resource (\w+) '([^']+)'(?: existing)? = (?:if \([^)]*\) )?", source, re.MULTILINE):
        blocks[match[1]] = (match[2], bracketed(source, match.end()))
    return blocks


# ---- the person running azd: poison queues only (issue 13 item 5) --------------------------------------------
def test_the_azd_principal_gets_queue_data_contributor_on_the_poison_queues_and_nothing_else():
    blocks = resource_blocks(text(RBAC))
    granted = {symbol: body for symbol, (kind, body) in blocks.items()
               if kind.startswith("Microsoft.Authorization/roleAssignments@") and "principalId: principalId" in body}
    assert list(granted) == ["principalPoisonQueueRoles"]
    body = granted["principalPoisonQueueRoles"]
    assert "scope: poisonQueues[i]" in body and "scope: storage\n" not in body
    assert re.findall(r"roleDefinitions', (\w+)\)", body) == ["storageQueueDataContributor"]
    assert "storageBlobDataOwner" not in body and "storageRoles" not in body
    assert "empty(principalId) ? [] :" in body  # nobody when azd has no principal


def test_the_poison_queue_scope_is_what_cli_poison_touches():
    queues = string_array(text(MAIN), "queueNames")
    poison = string_array(text(MAIN), "poisonQueueNames")
    poison_queues = [queue for queue in queues if queue.endswith("-poison")]
    expected = {name for queue in poison_queues for name in (queue, queue.removesuffix("-poison"))}
    assert set(poison) == expected and len(poison) == len(expected)


def test_azd_principal_variables_replace_the_hand_set_one():
    mapped = json.loads(PARAMETERS.read_text(encoding="utf-8"))["parameters"]
    assert mapped["principalId"]["value"] == "${AZURE_PRINCIPAL_ID=}"
    assert mapped["principalType"]["value"] == "${AZURE_PRINCIPAL_TYPE=User}"
    for path in [*INFRA.rglob("*"), ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        if path.is_file():
            assert "DEVELOPER_PRINCIPAL_ID" not in path.read_text(encoding="utf-8"), path


def test_azd_environment_folder_is_ignored_by_git_and_by_the_deployment():
    assert ".azure/" in (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert ".azure" in (ROOT / ".funcignore").read_text(encoding="utf-8").split()


# ---- network (issue 13 item 5) --------------------------------------------------------------------------------
def test_one_subnet_parameter_locks_storage_to_the_app_subnet_and_integrates_the_app():
    assert param_defaults(text(MAIN))["appSubnetId"] == ""
    storage = text(STORAGE)
    assert "var restricted = !empty(allowedSubnetId)" in storage
    assert "defaultAction: restricted ? 'Deny' : 'Allow'" in storage
    assert re.search(r"virtualNetworkRules: restricted \? \[\s*\{\s*id: allowedSubnetId\s*action: 'Allow'", storage)
    assert "for range in (restricted ? allowedIpRanges : [])" in storage
    assert "allowSharedKeyAccess: false" in storage and "allowBlobPublicAccess: false" in storage
    _, site = resource_blocks(text(FUNCTION))["functionApp"]
    assert "virtualNetworkSubnetId: empty(subnetId) ? null : subnetId" in site
    main = text(MAIN)
    assert "allowedSubnetId: appSubnetId" in main and "subnetId: appSubnetId" in main


# ---- publishing (issue 13 item 5) -----------------------------------------------------------------------------
def test_basic_auth_publishing_is_off_for_ftp_and_scm():
    policies = {re.search(r"name: '(\w+)'", body)[1]: body for kind, body in resource_blocks(text(FUNCTION)).values()
                if kind.startswith("Microsoft.Web/sites/basicPublishingCredentialsPolicies@")}
    assert set(policies) == {"ftp", "scm"}
    for body in policies.values():
        assert "parent: functionApp" in body and re.search(r"allow: false", body)
    assert "ftpsState: 'Disabled'" in text(FUNCTION)


# ---- API versions (issue 16 item 6) ---------------------------------------------------------------------------
def test_every_api_version_is_the_one_docs_deploy_lists_and_none_is_a_preview():
    used: dict[str, set[str]] = {}
    for bicep in INFRA.rglob("*.bicep"):
        for kind, version in re.findall(r"^resource \w+ '([^'@]+)@([^']+)'", text(bicep), re.MULTILINE):
            used.setdefault(kind, set()).add(version)
    deploy = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    listed = dict(re.findall(r"^\| `([A-Za-z./]+)` \| `(\d{4}-\d{2}-\d{2}[a-z-]*)` \|", deploy, re.MULTILINE))
    assert used and all(len(versions) == 1 for versions in used.values()), used
    assert {kind: versions.pop() for kind, versions in used.items()} == listed
    assert not [version for version in listed.values() if "preview" in version]
