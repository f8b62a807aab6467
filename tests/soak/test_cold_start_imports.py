"""What docs/performance.md's cold-start figure rests on, as a count rather than a time: importing the app with its
settings loaded pulls in none of the SDKs that only one mode or one worker needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from bench.cold_start import SETTINGS
from bench.host_model import ROOT

LAZY = ("msal", "azure.identity", "azure.data.tables", "azure.storage.queue", "azure.core", "cryptography")


def test_importing_the_app_with_settings_loads_no_sdk_that_a_single_mode_or_worker_needs() -> None:
    code = ("import json, sys, function_app; from shared import runtime; runtime.settings(); "
            f"print(json.dumps([name for name in {LAZY!r} if name in sys.modules]))")
    output = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **SETTINGS},  # noqa: S603
                            capture_output=True, text=True, check=True).stdout

    assert json.loads(output) == []


def test_telemetry_is_not_set_up_by_the_import_even_with_a_connection_string() -> None:
    """The Azure Monitor distro costs a few hundred ms to import and configure: it waits for the first record or
    Graph call (shared/telemetry.py), so the import measured above stays the same with telemetry on."""
    code = ("import json, sys, function_app; from shared import runtime; runtime.settings(); "
            "print(json.dumps(sorted({name.split('.')[0] + '.' + name.split('.')[1] for name in sys.modules "
            "if name.startswith(('opentelemetry.', 'azure.monitor.'))})))")
    environment = {**os.environ, **SETTINGS, "APPLICATIONINSIGHTS_CONNECTION_STRING":
                   "InstrumentationKey=00000000-0000-4000-8000-000000000000;IngestionEndpoint=https://127.0.0.1:9/"}
    output = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment,  # noqa: S603
                            capture_output=True, text=True, check=True).stdout

    assert json.loads(output) == []
