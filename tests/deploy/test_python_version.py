"""What infra/ deploys is what the tests run: the Python version, and the worker library pinned in requirements.txt
(Python 3.13+ runtime version control) is the one the tests load the app with."""

from __future__ import annotations

import re
import sys
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_flex_consumption_runs_the_python_the_tests_run_on() -> None:
    bicep = (ROOT / "infra" / "app" / "function.bicep").read_text(encoding="utf-8")
    runtime = re.search(r"runtime:\s*\{\s*name:\s*'python'\s*version:\s*'([0-9.]+)'", bicep)
    assert runtime, "function.bicep sets functionAppConfig.runtime"
    assert runtime.group(1) == f"{sys.version_info.major}.{sys.version_info.minor}"


def test_requirements_pin_the_worker_library_the_tests_load() -> None:
    requirements = (ROOT / "requirements.in").read_text(encoding="utf-8")
    pinned = re.search(r"^azure-functions-runtime==([0-9.]+)$", requirements, re.MULTILINE)
    assert pinned, "requirements.in pins azure-functions-runtime"
    assert pinned.group(1) == version("azure-functions-runtime")
