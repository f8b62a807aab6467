"""The Graph grant scripts: exactly the documented app roles, and the shell script's behaviour against a fake `az`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.bicep_text import GUID

ROOT = Path(__file__).resolve().parents[2]
SH = ROOT / "scripts" / "grant-graph-permissions.sh"
PS1 = ROOT / "scripts" / "grant-graph-permissions.ps1"
FAKE_AZ = Path(__file__).with_name("fake_az.py")
BASH = shutil.which("bash") or "/bin/bash"

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"  # Microsoft Graph's appId (cloud-facts "Permissions")
# Office 365 SharePoint Online's appId (sp-dev-docs apis/webhooks/lists/create-subscription.md names the API). Its app
# role ids are not in Microsoft's published reference: the scripts resolve them by value, so they name none.
SHAREPOINT_APP_ID = "00000003-0000-0ff1-ce00-000000000000"
# Microsoft Graph application permission ids, from ../shared/cloud-facts.md "Permissions (least privilege)" and
# learn.microsoft.com/graph/permissions-reference.
USER_INVITE_ALL = "09850681-111b-4a89-9bed-3f2cae46d706"
GROUP_MEMBER_READWRITE_ALL = "dbaae8cf-10b5-4b86-a4a1-f871c94c6695"
USER_READ_ALL = "df021288-bdef-4463-88db-98f22de89214"
SITES_SELECTED = "883ea226-0bf2-4a8f-9f9d-92c9162a727d"
SITES_READWRITE_ALL = "9492366f-7969-46a4-8d15-ed1a20078fff"
# The opt-in lifecycle features (docs/lifecycle.md; least privileged per Graph's API pages, docs/simulator.md).
USER_READWRITE_ALL = "741f803b-c850-494e-b5df-cde7c675a1ca"
USER_ENABLE_DISABLE_ACCOUNT_ALL = "3011c876-62b7-4ada-afa2-506cbbecc68c"
USER_DELETE_RESTORE_ALL = "eccc023d-eccf-4e7b-9683-8813ab36cecc"
DOCUMENTED = {
    USER_INVITE_ALL: "User.Invite.All",
    GROUP_MEMBER_READWRITE_ALL: "GroupMember.ReadWrite.All",
    USER_READ_ALL: "User.Read.All",
    SITES_SELECTED: "Sites.Selected",
    SITES_READWRITE_ALL: "Sites.ReadWrite.All",
    USER_READWRITE_ALL: "User.ReadWrite.All",
    USER_ENABLE_DISABLE_ACCOUNT_ALL: "User.EnableDisableAccount.All",
    USER_DELETE_RESTORE_ALL: "User.DeleteRestore.All",
}
CORE_ROLES = [USER_INVITE_ALL, GROUP_MEMBER_READWRITE_ALL, USER_READ_ALL]
# Far more than the app needs (cloud-facts: what the 2017 write-up asked for); must never be granted.
DIRECTORY_READWRITE_ALL = "19dbc75e-c2e2-444c-a770-ec69d8559fc7"
GROUP_READWRITE_ALL = "62a82d76-70ea-41e2-9197-370581804d09"


@pytest.mark.parametrize("script", [SH, PS1], ids=lambda p: p.name)
def test_grant_script_names_exactly_the_documented_ids(script: Path) -> None:
    found = {guid.lower() for guid in GUID.findall(script.read_text(encoding="utf-8"))}
    assert found == {GRAPH_APP_ID, SHAREPOINT_APP_ID, *DOCUMENTED}


@pytest.mark.parametrize("script", [SH, PS1], ids=lambda p: p.name)
def test_grant_script_never_names_directory_or_group_readwrite_all(script: Path) -> None:
    text = script.read_text(encoding="utf-8")
    for forbidden in (DIRECTORY_READWRITE_ALL, GROUP_READWRITE_ALL, "Directory.ReadWrite.All", "Group.ReadWrite.All"):
        assert forbidden.lower() not in text.lower()


def test_shell_script_labels_each_id_with_its_permission() -> None:
    constants = dict(re.findall(r'^readonly (\w+)="([0-9a-f-]{36})"', SH.read_text(encoding="utf-8"), re.MULTILINE))
    assert constants == {
        "GRAPH_APP_ID": GRAPH_APP_ID,
        "USER_INVITE_ALL": USER_INVITE_ALL,
        "GROUP_MEMBER_READWRITE_ALL": GROUP_MEMBER_READWRITE_ALL,
        "USER_READ_ALL": USER_READ_ALL,
        "SITES_SELECTED": SITES_SELECTED,
        "SITES_READWRITE_ALL": SITES_READWRITE_ALL,
        "SHAREPOINT_APP_ID": SHAREPOINT_APP_ID,
        "USER_READWRITE_ALL": USER_READWRITE_ALL,
        "USER_ENABLE_DISABLE_ACCOUNT_ALL": USER_ENABLE_DISABLE_ACCOUNT_ALL,
        "USER_DELETE_RESTORE_ALL": USER_DELETE_RESTORE_ALL,
    }


def test_powershell_script_labels_each_id_with_its_permission() -> None:
    pairs = dict(re.findall(r"'([0-9a-f-]{36})' = '([\w.]+)'", PS1.read_text(encoding="utf-8")))
    assert pairs == DOCUMENTED


def test_shell_script_parses() -> None:
    result = subprocess.run([BASH, "-n", str(SH)], capture_output=True, text=True, check=False)  # noqa: S603 (our script)
    assert result.returncode == 0, result.stderr


def test_shell_script_is_shellcheck_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck not installed (Debian: apt-get install -y shellcheck)")
    result = subprocess.run([shellcheck, str(SH)], capture_output=True, text=True, check=False)  # noqa: S603
    assert result.returncode == 0, result.stdout


def test_shell_script_is_executable() -> None:
    # azd runs a posix hook script directly, so its shebang (bash) must apply (azure-dev pkg/tools/bash).
    assert os.access(SH, os.X_OK)
    assert SH.read_text(encoding="utf-8").startswith("#!/usr/bin/env bash\n")


# ---- behaviour, against a fake `az rest` (tests/deploy/fake_az.py) ----

MI_ID = "11111111-1111-1111-1111-111111111111"
MI_APP_ID = "22222222-2222-2222-2222-222222222222"
GRAPH_SP_ID = "33333333-3333-3333-3333-333333333333"
SPO_SP_ID = "44444444-4444-4444-4444-444444444444"
# The fake tenant's SharePoint app roles: made-up ids (a real tenant's come from its service principal), values as
# SharePoint names them; a same-valued role for users only must not be picked.
SPO_SITES_SELECTED = "55555555-5555-5555-5555-555555555501"
SPO_SITES_MANAGE_ALL = "55555555-5555-5555-5555-555555555502"
SPO_USER_ONLY_SITES_SELECTED = "55555555-5555-5555-5555-555555555503"
SPO_SITES_FULLCONTROL_ALL = "55555555-5555-5555-5555-555555555504"
SITE_KEY = "contoso.sharepoint.com:/sites/onboarding"
SITE_ID = "contoso.sharepoint.com,aaaa,bbbb"
SITE_URL = "https://contoso.sharepoint.com/sites/onboarding"


@dataclass
class FakeTenant:
    home: Path

    @property
    def state_path(self) -> Path:
        return self.home / "state.json"

    def state(self) -> dict:
        return json.loads(self.state_path.read_text(encoding="utf-8"))

    def update(self, **changes: object) -> None:
        self.state_path.write_text(json.dumps({**self.state(), **changes}), encoding="utf-8")

    def calls(self) -> list[dict]:
        log = self.home / "calls.jsonl"
        return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []

    def posts(self) -> list[dict]:
        return [call for call in self.calls() if call["method"] == "POST"]

    def granted_roles(self, resource: str = GRAPH_SP_ID) -> list[str]:
        return [a["appRoleId"] for a in self.state()["assignments"]
                if a["principalId"] == MI_ID and a["resourceId"] == resource]

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        clean = {k: v for k, v in os.environ.items() if k not in {"GRAPH_ENDPOINT", "APP_IDENTITY_PRINCIPAL_ID"}}
        clean.pop("SHAREPOINT_SITE_URL", None)
        clean.update(
            PATH=f"{self.home / 'bin'}{os.pathsep}{clean.get('PATH', '')}",
            FAKE_AZ_STATE=str(self.state_path),
            FAKE_AZ_LOG=str(self.home / "calls.jsonl"),
            **env,
        )
        return subprocess.run(  # noqa: S603 (our own script, fixed arguments)
            [BASH, str(SH), *args], capture_output=True, text=True, env=clean, check=False, timeout=120
        )


@pytest.fixture
def tenant(tmp_path: Path) -> FakeTenant:
    (tmp_path / "bin").mkdir()
    az = tmp_path / "bin" / "az"
    az.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_AZ}" "$@"\n', encoding="utf-8")
    az.chmod(0o755)
    graph_roles = [{"id": role} for role in (*DOCUMENTED, DIRECTORY_READWRITE_ALL, GROUP_READWRITE_ALL)]
    state = {
        "servicePrincipals": {
            GRAPH_SP_ID: {
                "id": GRAPH_SP_ID,
                "appId": GRAPH_APP_ID,
                "displayName": "Microsoft Graph",
                "appRoles": graph_roles,
            },
            SPO_SP_ID: {
                "id": SPO_SP_ID,
                "appId": SHAREPOINT_APP_ID,
                "displayName": "Office 365 SharePoint Online",
                "appRoles": [
                    {"id": role, "value": value, "allowedMemberTypes": [members]}
                    for role, value, members in (
                        (SPO_USER_ONLY_SITES_SELECTED, "Sites.Selected", "User"),
                        (SPO_SITES_FULLCONTROL_ALL, "Sites.FullControl.All", "Application"),
                        (SPO_SITES_MANAGE_ALL, "Sites.Manage.All", "Application"),
                        (SPO_SITES_SELECTED, "Sites.Selected", "Application"),
                    )
                ],
            },
            MI_ID: {"id": MI_ID, "appId": MI_APP_ID, "displayName": "id-guest onboarding"},
        },
        "assignments": [],
        "sites": {SITE_KEY: {"id": SITE_ID, "permissions": []}},
    }
    (tmp_path / "state.json").write_text(json.dumps(state), encoding="utf-8")
    return FakeTenant(tmp_path)


def test_grants_exactly_the_three_core_roles_to_a_fresh_identity(tenant: FakeTenant) -> None:
    result = tenant.run("--principal-id", MI_ID)
    assert result.returncode == 0, result.stderr
    assert sorted(tenant.granted_roles()) == sorted(CORE_ROLES)
    assert all(
        post["url"].endswith(f"/v1.0/servicePrincipals/{GRAPH_SP_ID}/appRoleAssignedTo") for post in tenant.posts()
    )
    assert result.stdout.count("granted:         ") == 3
    assert "User.Invite.All" in result.stdout


def test_second_run_changes_nothing_and_says_so(tenant: FakeTenant) -> None:
    assert tenant.run("--principal-id", MI_ID).returncode == 0
    posts_after_first = len(tenant.posts())
    result = tenant.run("--principal-id", MI_ID)
    assert result.returncode == 0, result.stderr
    assert len(tenant.posts()) == posts_after_first
    assert result.stdout.count("already granted: ") == 3
    assert sorted(tenant.granted_roles()) == sorted(CORE_ROLES)


def test_only_missing_roles_are_granted(tenant: FakeTenant) -> None:
    tenant.update(assignments=[{"principalId": MI_ID, "resourceId": GRAPH_SP_ID, "appRoleId": USER_READ_ALL}])
    result = tenant.run("--principal-id", MI_ID)
    assert result.returncode == 0, result.stderr
    assert sorted(post["body"]["appRoleId"] for post in tenant.posts()) == sorted(
        [USER_INVITE_ALL, GROUP_MEMBER_READWRITE_ALL]
    )


def test_dry_run_grants_nothing(tenant: FakeTenant) -> None:
    result = tenant.run("--principal-id", MI_ID, "--sharepoint", "--site-url", SITE_URL, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert tenant.posts() == []
    assert result.stdout.count("would grant:     ") == 6  # three core roles, both Sites.Selected, the site


def test_sharepoint_grants_sites_selected_and_site_write(tenant: FakeTenant) -> None:
    result = tenant.run("--principal-id", MI_ID, "--sharepoint", "--site-url", SITE_URL)
    assert result.returncode == 0, result.stderr
    assert sorted(tenant.granted_roles()) == sorted([*CORE_ROLES, SITES_SELECTED])
    assert tenant.granted_roles(SPO_SP_ID) == [SPO_SITES_SELECTED]
    assert f"granted:         SharePoint Sites.Selected ({SPO_SITES_SELECTED})" in result.stdout
    (permission,) = tenant.state()["sites"][SITE_KEY]["permissions"]
    assert permission["roles"] == ["write"]
    assert permission["grantedToIdentities"][0]["application"]["id"] == MI_APP_ID
    posts = len(tenant.posts())
    again = tenant.run("--principal-id", MI_ID, "--sharepoint", "--site-url", SITE_URL)
    assert "already granted: site write" in again.stdout
    assert "already granted: SharePoint Sites.Selected" in again.stdout
    assert len(tenant.posts()) == posts
    assert len(tenant.state()["sites"][SITE_KEY]["permissions"]) == 1


def test_sites_readwrite_all_fallback_replaces_sites_selected(tenant: FakeTenant) -> None:
    result = tenant.run("--principal-id", MI_ID, "--sharepoint", "--sites-readwrite-all")
    assert result.returncode == 0, result.stderr
    assert sorted(tenant.granted_roles()) == sorted([*CORE_ROLES, SITES_READWRITE_ALL])
    assert tenant.granted_roles(SPO_SP_ID) == [SPO_SITES_MANAGE_ALL]
    assert tenant.state()["sites"][SITE_KEY]["permissions"] == []


def test_without_sharepoint_no_sharepoint_role_is_granted(tenant: FakeTenant) -> None:
    assert tenant.run("--principal-id", MI_ID).returncode == 0
    assert tenant.granted_roles(SPO_SP_ID) == []
    assert not any(SHAREPOINT_APP_ID in call["url"] for call in tenant.calls())


def test_a_tenant_without_sharepoint_is_refused_before_any_grant(tenant: FakeTenant) -> None:
    sps = tenant.state()["servicePrincipals"]
    del sps[SPO_SP_ID]
    tenant.update(servicePrincipals=sps)
    result = tenant.run("--principal-id", MI_ID, "--sharepoint", "--site-url", SITE_URL)
    assert result.returncode != 0
    assert "Office 365 SharePoint Online" in result.stderr
    assert tenant.posts() == []


def test_denied_grant_fails_and_prints_the_command_for_an_admin(tenant: FakeTenant) -> None:
    tenant.update(denyAppRoles=True)
    result = tenant.run("--principal-id", MI_ID)
    assert result.returncode != 0
    assert "Privileged Role Administrator" in result.stderr
    assert f"--principal-id {MI_ID}" in result.stderr
    assert "granted:" not in result.stdout.replace("already granted:", "")


def test_from_azd_reads_principal_and_site_from_the_azd_environment(tenant: FakeTenant) -> None:
    result = tenant.run("--from-azd", APP_IDENTITY_PRINCIPAL_ID=MI_ID, SHAREPOINT_SITE_URL=SITE_URL)
    assert result.returncode == 0, result.stderr
    assert sorted(tenant.granted_roles()) == sorted([*CORE_ROLES, SITES_SELECTED])
    assert tenant.granted_roles(SPO_SP_ID) == [SPO_SITES_SELECTED]
    assert len(tenant.state()["sites"][SITE_KEY]["permissions"]) == 1


def test_sponsors_and_offboarding_flags_grant_each_least_privileged_role_only_when_asked(tenant: FakeTenant) -> None:
    result = tenant.run("--principal-id", MI_ID, "--sponsors", "--offboarding", "disable")
    assert result.returncode == 0, result.stderr
    assert sorted(tenant.granted_roles()) == sorted([*CORE_ROLES, USER_READWRITE_ALL, USER_ENABLE_DISABLE_ACCOUNT_ALL])
    assert "granted:         User.ReadWrite.All" in result.stdout
    result = tenant.run("--principal-id", MI_ID, "--offboarding", "delete")
    assert result.returncode == 0, result.stderr
    assert USER_DELETE_RESTORE_ALL in tenant.granted_roles()


def test_an_unknown_offboarding_action_is_refused_before_any_grant(tenant: FakeTenant) -> None:
    result = tenant.run("--principal-id", MI_ID, "--offboarding", "erase")
    assert result.returncode != 0 and "--offboarding is none, disable or delete" in result.stderr
    assert tenant.granted_roles() == []


def test_from_azd_reads_the_lifecycle_settings(tenant: FakeTenant) -> None:
    result = tenant.run("--from-azd", APP_IDENTITY_PRINCIPAL_ID=MI_ID, SPONSORS_ENABLED="true",
                        OFFBOARDING_ACTION="delete")
    assert result.returncode == 0, result.stderr
    assert sorted(tenant.granted_roles()) == sorted([*CORE_ROLES, USER_READWRITE_ALL, USER_DELETE_RESTORE_ALL])


def test_unknown_principal_is_refused_before_any_grant(tenant: FakeTenant) -> None:
    result = tenant.run("--principal-id", "99999999-9999-9999-9999-999999999999")
    assert result.returncode != 0
    assert "no service principal" in result.stderr
    assert tenant.posts() == []


def test_national_cloud_graph_endpoint_is_used_for_url_and_token(tenant: FakeTenant) -> None:
    result = tenant.run("--principal-id", MI_ID, GRAPH_ENDPOINT="https://graph.microsoft.us")
    assert result.returncode == 0, result.stderr
    assert {call["resource"] for call in tenant.calls()} == {"https://graph.microsoft.us"}
    assert all(call["url"].startswith("https://graph.microsoft.us/v1.0/") for call in tenant.calls())


def test_missing_principal_is_a_usage_error(tenant: FakeTenant) -> None:
    result = tenant.run()
    assert result.returncode != 0
    assert "--principal-id" in result.stderr
    assert tenant.calls() == []
