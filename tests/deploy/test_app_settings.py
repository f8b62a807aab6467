"""The Bicep app settings are the settings contract in code, plus the host's identity-based storage and telemetry."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

from tests.deploy.bicep_text import BicepTextError, app_setting_names, param_defaults, string_array, strip_comments

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
FUNCTION = INFRA / "app" / "function.bicep"
MAIN = INFRA / "main.bicep"
PARAMETERS = INFRA / "main.parameters.json"

# In the contract but deliberately not deployed: they select MSAL secret/certificate mode, and this deployment
# authenticates with the managed identity and never carries a secret (AZURE_TENANT_ID only matters in those modes).
SECRET_MODE_ONLY = {
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
}
# The contract's AzureWebJobsStorage is deployed in its identity-based form (learn.microsoft.com/azure/
# azure-functions/functions-reference#connecting-to-host-storage-with-an-identity), plus telemetry with Entra ID auth.
HOST_SETTINGS = {
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__blobServiceUri",
    "AzureWebJobsStorage__queueServiceUri",
    "AzureWebJobsStorage__tableServiceUri",
    "AzureWebJobsStorage__clientId",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    "PYTHON_ENABLE_OPENTELEMETRY",
}
# Flex Consumption rejects these; the runtime lives in functionAppConfig (flex-consumption-plan
# #deprecated-properties-and-settings). AzureWebJobsStorage as a connection string would need shared keys.
NOT_ALLOWED = {
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_EXTENSION_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "WEBSITE_CONTENTSHARE",
    "AzureWebJobsStorage",
}


def _bicep_settings() -> list[str]:
    return app_setting_names(FUNCTION.read_text(encoding="utf-8"))


def _contract() -> set[str]:
    """The setting names the app reads, as declared by shared.settings (the one place settings are read)."""
    settings = importlib.import_module("shared.settings")
    names = getattr(settings, "SETTING_NAMES", None)
    assert names is not None, "shared.settings must export SETTING_NAMES: every environment setting the app reads"
    return set(names)


def test_bicep_app_settings_are_the_settings_contract() -> None:
    contract = _contract()
    expected = (contract - SECRET_MODE_ONLY - {"AzureWebJobsStorage"}) | HOST_SETTINGS
    assert set(_bicep_settings()) == expected


def test_the_worker_is_told_the_app_exports_opentelemetry_as_host_json_asks() -> None:
    function = strip_comments(FUNCTION.read_text(encoding="utf-8"))
    assert re.search(r"name: 'PYTHON_ENABLE_OPENTELEMETRY'\s*value: 'true'", function)
    assert json.loads((ROOT / "host.json").read_text(encoding="utf-8"))["telemetryMode"] == "OpenTelemetry"
    # The app sets the distro up itself (shared/telemetry.py): the worker must not do it a second time.
    assert "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY" not in _bicep_settings()


def test_no_setting_is_listed_twice() -> None:
    names = _bicep_settings()
    assert len(names) == len(set(names))


def test_no_secret_mode_or_flex_forbidden_setting_is_deployed() -> None:
    assert not set(_bicep_settings()) & (SECRET_MODE_ONLY | NOT_ALLOWED)


def test_host_storage_is_identity_based_and_shared_keys_are_off() -> None:
    function = strip_comments(FUNCTION.read_text(encoding="utf-8"))
    assert re.search(r"name: 'AzureWebJobsStorage__credential'\s*value: 'managedidentity'", function)
    storage = strip_comments((INFRA / "app" / "storage.bicep").read_text(encoding="utf-8"))
    assert re.search(r"^\s*allowSharedKeyAccess: false$", storage, re.MULTILINE)
    monitoring = strip_comments((INFRA / "app" / "monitoring.bicep").read_text(encoding="utf-8"))
    assert re.search(r"^\s*DisableLocalAuth: true$", monitoring, re.MULTILINE)


def test_user_assigned_identity_settings_are_conditional_on_user_assigned() -> None:
    # With a system-assigned identity AZURE_CLIENT_ID must be absent: azure-identity would ask for a missing UAMI.
    function = strip_comments(FUNCTION.read_text(encoding="utf-8"))
    block = re.search(r"var userAssignedIdentitySettings = userAssigned\s*\?", function)
    assert block is not None
    conditional = app_setting_names("appSettings: concat(userAssignedIdentitySettings)\n" + function)
    assert set(conditional) == {"AzureWebJobsStorage__clientId", "AZURE_CLIENT_ID"}


def test_allowed_group_ids_is_required_and_everything_else_has_a_safe_default() -> None:
    defaults = param_defaults(MAIN.read_text(encoding="utf-8"))
    assert "allowedGroupIds" in defaults
    assert defaults["allowedGroupIds"] is None
    assert "param allowedGroupIds string\n" in MAIN.read_text(encoding="utf-8")  # no default at all
    assert defaults["logPii"] == "false"
    assert defaults["allowedEmailDomains"] == defaults["blockedEmailDomains"] == ""
    assert defaults["sharepointClientState"] == ""
    assert defaults["identityType"] == "UserAssigned"


def test_client_state_is_a_secure_parameter_and_never_an_output() -> None:
    main = MAIN.read_text(encoding="utf-8")
    assert re.search(r"@secure\(\)\s*(@description\([^)]*\)\s*)?param sharepointClientState string", main)
    outputs = re.findall(r"^output .*$", strip_comments(main), re.MULTILINE)
    assert outputs, "main.bicep has outputs"
    for line in outputs:
        assert not re.search(r"clientState|secret|password|key|ConnectionString", line, re.IGNORECASE), line


def test_outputs_give_the_app_name_url_and_identity() -> None:
    main = strip_comments(MAIN.read_text(encoding="utf-8"))
    outputs = set(re.findall(r"^output (\w+) ", main, re.MULTILINE))
    assert {
        "AZURE_FUNCTION_APP_NAME",
        "FUNCTION_APP_BASE_URL",
        "APP_IDENTITY_PRINCIPAL_ID",
        "APP_IDENTITY_CLIENT_ID",
    } <= outputs


def test_azd_parameter_file_maps_every_parameter_with_the_bicep_default() -> None:
    defaults = param_defaults(MAIN.read_text(encoding="utf-8"))
    mapped = json.loads(PARAMETERS.read_text(encoding="utf-8"))["parameters"]
    sizing = {"maximumInstanceCount", "instanceMemoryMB", "resourceGroupName"}  # Bicep defaults are enough
    assert set(mapped) == set(defaults) - sizing
    for name, entry in mapped.items():
        match = re.fullmatch(r"\$\{(\w+)(?:=(.*))?\}", entry["value"])
        assert match is not None, f"{name}: {entry['value']!r} is not an azd ${{VAR}} reference"
        if defaults[name] is None:
            # azd prompts for a required parameter whose variable is unset (Azure/azure-dev#2895).
            assert match.group(2) is None, f"{name} is required: no default in main.parameters.json"
        else:
            assert match.group(2) == defaults[name], f"{name}: default differs from main.bicep"


def _trigger_sources() -> str:
    """function_app.py and the blueprints it registers: every binding the app declares."""
    return "\n".join((ROOT / name).read_text(encoding="utf-8")
                     for name in ("function_app.py", "shared/sharepoint_blueprint.py"))


def test_queues_and_table_match_the_architecture_and_the_bindings() -> None:
    queues = string_array(MAIN.read_text(encoding="utf-8"), "queueNames")
    architecture = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    documented = re.findall(r"^\| `([a-z0-9-]+)` \|", architecture, re.MULTILINE)
    assert documented, "docs/architecture.md lists the queues"
    assert set(queues) == set(documented)
    bound = set(re.findall(r'queue_name="([^"]+)"', _trigger_sources()))
    assert "sharepoint-notifications" in bound, "the blueprint's bindings are read too"
    assert bound <= set(queues), "every queue a binding uses is created by the template"
    tables = string_array(MAIN.read_text(encoding="utf-8"), "tableNames")
    assert tables == ["sharepointstate", "guestgrants", "invitationstatus", "inviteclaims"]
    for table in tables:
        assert f"`{table}`" in architecture, f"docs/architecture.md names the table {table}"


# ---- the reader itself: it must see through comments and strings, and refuse what it cannot read ----


def test_reader_ignores_names_in_comments_and_strings() -> None:
    source = """
    var a = [
      // { name: 'COMMENTED' }
      {
        name: 'REAL'
        value: 'not a ] bracket // nor a comment'
      }
    ]
    /* var b = [ { name: 'BLOCK' } ] */
    var b = [
      {
        name: 'SECOND'
        value: concat('x', ']')
      }
    ]
    siteConfig: { appSettings: concat(a, b) }
    """
    assert app_setting_names(source) == ["REAL", "SECOND"]


def test_reader_refuses_interpolated_names_and_unknown_forms() -> None:
    with pytest.raises(BicepTextError):
        app_setting_names("appSettings: [\n{\nname: '${prefix}_X'\nvalue: 'v'\n}\n]")
    with pytest.raises(BicepTextError):
        app_setting_names("appSettings: union(a, b)")
    with pytest.raises(BicepTextError):
        app_setting_names("appSettings: concat(a, [])\nvar a = []")


def test_every_binding_connection_is_deployed_identity_based() -> None:
    # A binding's `connection` names a setting prefix; with shared keys off it must resolve to <name>__* settings.
    source = _trigger_sources()
    constants = dict(re.findall(r'^(\w+) = "([^"]+)"$', source, re.MULTILINE))
    used = {constants.get(ref, ref.strip('"')) for ref in re.findall(r"connection=(\"[^\"]+\"|\w+)", source)}
    assert used, "function_app.py binds storage"
    deployed = _bicep_settings()
    for connection in used:
        assert f"{connection}__queueServiceUri" in deployed, f"{connection}: no identity-based settings deployed"
        assert f"{connection}__credential" in deployed
