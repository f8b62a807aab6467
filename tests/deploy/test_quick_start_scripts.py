"""./demo and ./test (README quick start; .ci/run calls ./test): shellcheck clean, and the set-up they share
(scripts/dev-env.sh) installs only on first use or when a requirements/lock file changed, against fake tools."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = [ROOT / "demo", ROOT / "test", ROOT / "scripts" / "dev-env.sh", ROOT / ".ci" / "run"]
BASH = shutil.which("bash") or "/bin/bash"

# A stand-in interpreter for .venv/bin/python: reports 3.13 and records every other call (a pip install) in calls.
FAKE_PYTHON = """#!/bin/sh
if [ "$1" = -c ]; then echo 3.13; exit 0; fi
echo "python $*" >> "$(dirname "$0")/../../calls"
"""
FAKE_NPM = """#!/bin/sh
echo "npm $*" >> calls
mkdir -p node_modules/.bin && printf '#!/bin/sh\\n' > node_modules/.bin/azurite && chmod +x node_modules/.bin/azurite
"""


def test_quick_start_scripts_are_shellcheck_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck not installed (Debian: apt-get install -y shellcheck)")
    result = subprocess.run([shellcheck, "-x", *map(str, SCRIPTS)], cwd=ROOT, capture_output=True, text=True,  # noqa: S603
                            check=False)
    assert result.returncode == 0, result.stdout


def test_ci_runs_the_readme_test_command() -> None:
    lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert lines[-1] == 'exec "$(dirname "$0")/../test"'
    readme = (ROOT / "README.md").read_text()
    assert "./demo" in readme and "./test" in readme


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A folder with the files the set-up hashes, a .venv whose python is the fake, and a fake npm on PATH."""
    for name in ("requirements.txt", "requirements-dev.txt", "package-lock.json"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "dev-env.sh", tmp_path / "scripts" / "dev-env.sh")
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON)
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    (bin_dir / "npm").write_text(FAKE_NPM)
    for tool in (python, bin_dir / "npm"):
        tool.chmod(0o755)
    return tmp_path


def set_up(checkout: Path) -> tuple[str, list[str]]:
    """Run the Python and Node steps as the scripts do; the one-line announcements and the installs made."""
    env = os.environ | {"PATH": f"{checkout / 'fakebin'}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run([BASH, "-c", ". scripts/dev-env.sh && dev_python_env && dev_node_env"],  # noqa: S603
                            cwd=checkout, env=env, capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    calls = checkout / "calls"
    made = calls.read_text().splitlines() if calls.exists() else []
    calls.unlink(missing_ok=True)
    return result.stderr, made


def test_first_run_installs_and_second_run_skips_with_one_line_each(checkout: Path) -> None:
    said, made = set_up(checkout)
    assert made == ["python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt",
                    "npm ci --silent --no-audit --no-fund"]
    assert len(said.splitlines()) == 3  # .venv there, packages installed, node_modules installed
    said, made = set_up(checkout)
    assert made == []
    assert "nothing to install" in said.splitlines()[1] and "nothing to install" in said.splitlines()[2]


def test_a_changed_requirements_file_reinstalls_python_packages_only(checkout: Path) -> None:
    set_up(checkout)
    with (checkout / "requirements.txt").open("a") as handle:
        handle.write("six\n")
    _, made = set_up(checkout)
    assert made == ["python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt"]


def test_a_changed_package_lock_runs_npm_ci_again(checkout: Path) -> None:
    set_up(checkout)
    with (checkout / "package-lock.json").open("a") as handle:
        handle.write("\n")
    _, made = set_up(checkout)
    assert made == ["npm ci --silent --no-audit --no-fund"]


def test_a_failed_install_is_retried_on_the_next_run(checkout: Path) -> None:
    python = checkout / ".venv" / "bin" / "python"
    python.write_text(FAKE_PYTHON + "exit 1\n")
    env = os.environ | {"PATH": f"{checkout / 'fakebin'}{os.pathsep}{os.environ['PATH']}"}
    failed = subprocess.run([BASH, "-c", ". scripts/dev-env.sh && dev_python_env"], cwd=checkout, env=env,  # noqa: S603
                            capture_output=True, text=True, check=False, timeout=60)
    assert failed.returncode != 0
    assert not (checkout / ".venv" / ".requirements.sha256").exists()  # so the next run installs again


def test_the_quick_start_python_is_the_one_infra_deploys() -> None:
    setup = (ROOT / "scripts" / "dev-env.sh").read_text()
    version = re.search(r"^DEV_PYTHON_VERSION=(\S+)", setup, re.MULTILINE)[1]
    bicep = (ROOT / "infra" / "app" / "function.bicep").read_text()
    assert re.search(r"name: 'python'\s+version: '([\d.]+)'", bicep)[1] == version
    assert f'requires-python = ">={version}"' in (ROOT / "pyproject.toml").read_text()
