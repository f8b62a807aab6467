"""azure.yaml: valid YAML, one Python function service, the Graph grant wired as a post-provision hook."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _azure_yaml() -> dict:
    return yaml.safe_load((ROOT / "azure.yaml").read_text(encoding="utf-8"))


def test_azure_yaml_declares_one_python_function_service_at_the_root() -> None:
    services = _azure_yaml()["services"]
    assert list(services) == ["api"]
    assert services["api"] == {"project": ".", "language": "python", "host": "function"}
    # azd deploys to the resource tagged with the service name (infra/app/function.bicep).
    assert "'azd-service-name': 'api'" in (ROOT / "infra" / "app" / "function.bicep").read_text(encoding="utf-8")
    assert (ROOT / "infra" / "main.bicep").is_file()
    assert (ROOT / "infra" / "main.parameters.json").is_file()


def test_postprovision_hook_runs_the_grant_script_on_posix_and_windows() -> None:
    hook = _azure_yaml()["hooks"]["postprovision"]
    posix, windows = hook["posix"], hook["windows"]
    assert posix["shell"] == "sh"
    assert posix["run"].split() == ["./scripts/grant-graph-permissions.sh", "--from-azd"]
    assert windows["shell"] == "pwsh"
    assert windows["run"].split() == ["./scripts/grant-graph-permissions.ps1", "-FromAzd"]
    for config in (posix, windows):
        script = ROOT / config["run"].split()[0]
        assert script.is_file()
        # A deployer who may not grant Graph roles still gets a deployed app; doctor names what is missing.
        assert config["continueOnError"] is True
        assert config["interactive"] is True
    assert os.access(ROOT / "scripts" / "grant-graph-permissions.sh", os.X_OK)


def test_deployment_files_are_not_shipped_with_the_app() -> None:
    ignored = (ROOT / ".funcignore").read_text(encoding="utf-8").split()
    assert {"infra", "scripts", "azure.yaml", "tests"} <= set(ignored)


def test_the_local_host_and_the_simulator_are_not_shipped_with_the_app() -> None:
    # devhost stands in for the Functions host locally; on Azure the platform's host and worker run the app.
    ignored = (ROOT / ".funcignore").read_text(encoding="utf-8").split()
    assert {"devhost", "simulator"} <= set(ignored)
