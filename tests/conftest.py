"""Fixtures every test area shares: the simulated tenant and a real Azurite for storage."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.logging_setup import LOGGER_NAME
from simulator import Simulator

ROOT = Path(__file__).resolve().parent.parent

# Azurite's well-known development account (public, documented; not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
# AZURITE_PORT_BASE moves all three (blob, queue, table = base, +1, +2), so two checkouts can test side by side.
_BASE = int(os.environ.get("AZURITE_PORT_BASE") or 10000)
AZURITE_PORTS = {"blob": _BASE, "queue": _BASE + 1, "table": _BASE + 2}


def azurite_connection_string(host: str = "127.0.0.1") -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://{host}:{AZURITE_PORTS['blob']}/{AZURITE_ACCOUNT};"
        f"QueueEndpoint=http://{host}:{AZURITE_PORTS['queue']}/{AZURITE_ACCOUNT};"
        f"TableEndpoint=http://{host}:{AZURITE_PORTS['table']}/{AZURITE_ACCOUNT};"
    )


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def azurite() -> Iterator[str]:
    """A connection string for a running Azurite: the one .ci/run started, or one started here from
    node_modules (``npm install`` puts it there)."""
    if all(_listening(port) for port in AZURITE_PORTS.values()):
        yield azurite_connection_string()
        return
    binary = ROOT / "node_modules" / ".bin" / "azurite"
    if not binary.exists():
        binary = Path(shutil.which("azurite") or "")
    if not binary.is_file():
        pytest.fail("Azurite is not running and not installed: run `npm install` (see README).")
    location = tempfile.mkdtemp(prefix="azurite-")
    process = subprocess.Popen(  # noqa: S603 (fixed arguments)
        # Azurite 3.35 refuses --location together with --inMemoryPersistence (run it in the temp dir instead) and
        # sends telemetry unless told not to.
        [str(binary), "--silent", "--skipApiVersionCheck", "--inMemoryPersistence", "--disableTelemetry",
         "--blobPort", str(AZURITE_PORTS["blob"]), "--queuePort", str(AZURITE_PORTS["queue"]),
         "--tablePort", str(AZURITE_PORTS["table"])], cwd=location,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not all(_listening(port) for port in AZURITE_PORTS.values()):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail("Azurite did not start within 30 s")
        time.sleep(0.1)
    try:
        yield azurite_connection_string()
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(location, ignore_errors=True)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """A fresh simulated tenant with the default seed, on ephemeral loopback ports."""
    with Simulator() as simulator:
        yield simulator


@pytest.fixture
def trust_sim(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> Simulator:
    """Make requests-based clients (msal, azure-identity, our Graph client) trust the simulator's CA."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sim.ca_path))
    return sim




# ---- no secret in any log record (issue 8) --------------------------------------------------------------------
_simulators: weakref.WeakSet[Simulator] = weakref.WeakSet()  # every simulator started, while it lives
_started_this_test: list[Simulator] = []  # strong references until the test's check ran


@pytest.fixture(scope="session", autouse=True)
def _register_simulators() -> Iterator[None]:
    """Remember each started simulator (fixtures and tests alike) so its secrets can be looked for in the logs."""
    original = Simulator.start

    def start(self: Simulator) -> Simulator:
        _simulators.add(self)
        _started_this_test.append(self)
        return original(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Simulator, "start", start)
        yield


def simulator_secrets(simulator: Simulator) -> set[str]:
    """What must never be logged: every access token it issued, client secrets, certificate passwords and the
    managed identity header."""
    apps = list(simulator.identity.apps.values())
    values = {*simulator.tokens.issued, simulator.identity_header,
              *(app.secret for app in apps), *(app.certificate_password for app in apps)}
    return {value for value in values if value and len(value) >= 8}


def _record_text(record: logging.LogRecord) -> str:
    parts = [record.getMessage(), repr(vars(record))]  # the fields travel as the record's own attributes too
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(parts)


def secret_leaks(records: list[logging.LogRecord], secrets: set[str]) -> list[str]:
    """Each record that holds one of ``secrets``, described with the secret itself blanked out."""
    leaks = set()
    for record in records:
        text = _record_text(record)
        if any(secret in text for secret in secrets):
            shown = record.getMessage()
            for secret in secrets:
                shown = shown.replace(secret, "<secret>")
            leaks.add(f"{record.name}:{record.levelname} {shown[:100]!r}")  # blanked first: no part of one shown
    return sorted(leaks)


@pytest.fixture(autouse=True)
def no_secret_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Capture every log record at DEBUG (ours, msal, azure, urllib3…) and fail the test if one holds a token,
    client secret, certificate password or identity header of a simulator alive during the test."""
    _started_this_test.clear()
    # The root and the named loggers: a logger given its own level (the CLI quiets ours) would hide its records.
    for name in (None, LOGGER_NAME, "msal", "azure", "urllib3"):
        caplog.set_level(logging.DEBUG, logger=name)
    yield
    secrets = set().union(*(simulator_secrets(sim) for sim in {*_started_this_test, *_simulators}))
    _started_this_test.clear()
    records = [record for phase in ("setup", "call") for record in caplog.get_records(phase)]
    leaks = secret_leaks(records, secrets)
    if leaks:
        pytest.fail("a secret (token, client secret, certificate password or identity header) was logged by: "
                    + "; ".join(leaks), pytrace=False)


@pytest.fixture(autouse=True)
def _no_claims_from_earlier_tests(request: pytest.FixtureRequest) -> None:
    """Each test has its own simulated tenant, but Azurite lives for the session: a claim an earlier test recorded
    (shared/claims.py: a userId, trusted for minutes) would answer for a person this test's tenant never had. The
    table is made again, empty, as infra creates it before the app runs."""
    if "azurite" not in request.fixturenames:
        return
    from azure.data.tables import TableServiceClient

    from shared.claims import TABLE

    connection = request.getfixturevalue("azurite")
    service = TableServiceClient.from_connection_string(connection)
    service.delete_table(TABLE)
    service.create_table(TABLE)
    # Nor a first delay an earlier test's processes learned and shared (shared/lag.py): a new app starts at 5 s.
    from bench.host_model import forget_learned_delay

    forget_learned_delay(connection)
