"""pyproject.toml's dependencies are requirements.in's bounds (one place decides a version range: a bump there
must be mirrored here, and this test says so), less the Functions worker, plus what the demo tenant's simulator
needs (requirements-dev.in)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORKER_ONLY = {"azure-functions-runtime"}  # the Python worker the Functions host runs; the command never imports it
SIMULATOR_NEEDS = {"cryptography", "pyjwt"}


def requirement_lines(name: str) -> dict[str, str]:
    lines = {}
    for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            lines[_name(line)] = line
    return lines


def _name(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower()


def test_the_packages_dependencies_are_the_apps_requirements_less_the_worker() -> None:
    declared = {_name(item): item for item in
                tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]}
    runtime, dev = requirement_lines("requirements.in"), requirement_lines("requirements-dev.in")
    assert set(declared) == (set(runtime) - WORKER_ONLY) | SIMULATOR_NEEDS
    for name, item in declared.items():
        assert item == (runtime.get(name) or dev[name]), f"{name}: pyproject.toml {item!r} differs"
