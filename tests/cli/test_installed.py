"""The command as people install it (issue 16.3): `pip install .` of a copy of this tree into a fresh virtual
environment gives a `guest-onboarding` command that runs from anywhere, with --version and the demo tenant.

The fresh environment sees the test environment's packages through a .pth file (the dependencies are not
downloaded again: --no-deps, --no-build-isolation), but not this tree: the command must run from what was installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

from simulator.graph import models
from tests.tenant_settings import APP_SETTINGS

ROOT = Path(__file__).resolve().parents[2]
NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "node_modules", "__pycache__", "*.egg-info", "build", "dist",
                                    ".pytest_cache", ".ruff_cache", "__azurite*", "*.results.csv")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ folder of a fresh virtual environment with the package installed from a copy of this tree."""
    base = tmp_path_factory.mktemp("install")
    source, venv = base / "source", base / "venv"
    shutil.copytree(ROOT, source, ignore=NOT_COPIED)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)  # noqa: S603
    purelib = Path(subprocess.run([str(venv / "bin" / "python"), "-c",  # noqa: S603
                                   "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  check=True, capture_output=True, text=True, timeout=60).stdout.strip())
    (purelib / "test-environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    completed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps",  # noqa: S603
                                "--no-build-isolation", "--disable-pip-version-check", str(source)],
                               capture_output=True, text=True, timeout=300, cwd=base)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return venv / "bin"


def run(bin_dir: Path, *argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items()
           if name not in (*APP_SETTINGS, "REQUESTS_CA_BUNDLE", "PYTHONPATH")}
    return subprocess.run([str(bin_dir / "guest-onboarding"), *argv], cwd=cwd, env=env,  # noqa: S603
                          capture_output=True, text=True, timeout=180)


def test_the_installed_command_says_its_version(installed: Path, tmp_path: Path) -> None:
    expected = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    completed = run(installed, "--version", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == f"guest-onboarding {expected}"


def test_the_installed_command_has_the_same_subcommands_as_cli_py(installed: Path, tmp_path: Path) -> None:
    from guest_cli import build_parser

    expected = sorted(build_parser()._subparsers._group_actions[0].choices)
    completed = run(installed, "--help", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert all(name in completed.stdout for name in expected) and "usage: guest-onboarding" in completed.stdout


def test_the_installed_command_invites_on_the_demo_tenant_as_json(installed: Path, tmp_path: Path) -> None:
    completed = run(installed, "invite", "alice@fabrikam.com", "--group", models.PARTNERS_GROUP_ID, "--json",
                    cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["demoTenant"] is True and report["invited"] is True
    assert report["groups"] == {models.PARTNERS_GROUP_ID: "added"}
    assert "DEMO TENANT" in completed.stderr


def test_only_the_command_and_what_it_runs_are_installed(installed: Path) -> None:
    python = installed / "python"
    code = ("import importlib.util, json, guest_cli, shared, simulator; "
            "print(json.dumps({'files': [m.__file__ for m in (guest_cli, shared, simulator)], "
            "'others': [n for n in ('tests', 'devhost', 'bench', 'function_app') if importlib.util.find_spec(n)]}))")
    completed = subprocess.run([str(python), "-c", code], cwd=installed, capture_output=True, text=True,  # noqa: S603
                               timeout=60, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert completed.returncode == 0, completed.stderr
    found = json.loads(completed.stdout)
    venv = installed.parent.resolve()
    assert all(Path(file).resolve().is_relative_to(venv) for file in found["files"]), found
    assert found["others"] == []
