"""Cold start: ``import function_app`` with the settings loaded, in fresh interpreters, as a ratio to importing
azure.functions + msal + requests alone (the least any such app imports), alternating the two so both see the
same machine load; plus ``python -X importtime``'s heaviest modules beyond that baseline."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys

from bench.host_model import ROOT

BASELINE = "import azure.functions, msal, requests"
APP = "import function_app; from shared import runtime; runtime.settings()"
# Settings as an operator would set them (secret mode); nothing here is contacted by an import.
SETTINGS = {"AZURE_TENANT_ID": "7c0f6a5e-4b1d-4c6e-9a55-3d0c2f1b8e01",
            "AZURE_CLIENT_ID": "3f1e6b2a-8c4d-4e5f-9a6b-1c2d3e4f5a01", "AZURE_CLIENT_SECRET": "not-used-by-imports",
            "ALLOWED_GROUP_IDS": "*"}


def _timed(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    environment = {**os.environ, **SETTINGS}
    output = subprocess.run(  # noqa: S603 (our own interpreter, fixed code)
              [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True,
                            text=True, check=True).stdout
    return float(output.strip()) * 1000


def heaviest_imports(limit: int = 6) -> list[tuple[str, float]]:
    """Top-level modules imported by the app but not by the baseline, by cumulative import time (ms)."""
    code = f"{BASELINE}; import sys; print('MARK', file=sys.stderr, flush=True); {APP}"
    stderr = subprocess.run(  # noqa: S603 (our own interpreter, fixed code)
              [sys.executable, "-X", "importtime", "-c", code], cwd=ROOT,
                            env={**os.environ, **SETTINGS}, capture_output=True, text=True, check=True).stderr
    after = stderr.split("MARK", 1)[1]
    found = []
    for line in after.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if match and len(match.group(2)) <= 3:  # the app's own imports and what they pull in directly
            found.append((match.group(3), int(match.group(1)) / 1000))
    return sorted(found, key=lambda item: -item[1])[:limit]


def cold_start(rounds: int = 9) -> tuple[float, float, float, list[tuple[str, float]]]:
    """(ratio of medians, app median ms, baseline median ms, heaviest imports beyond the baseline)."""
    app, base = [], []
    for _ in range(rounds):
        base.append(_timed(BASELINE))
        app.append(_timed(APP))
    app_ms, base_ms = statistics.median(app), statistics.median(base)
    return app_ms / base_ms, app_ms, base_ms, heaviest_imports()
