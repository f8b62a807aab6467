"""``python -m simulator`` and SharePoint: the seeded site URL and list ids are printed (and written as the app's
settings), and the webhook retry schedule is scaled by ``--sharepoint-retry-scale``. Run as a real process."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from shared.diagnostics import diagnose
from simulator.__main__ import parse_args

ROOT = Path(__file__).resolve().parents[2]
SEED = {"sharepoint": {"sites": [{"path": "/sites/onboarding", "displayName": "Onboarding",
                                  "lists": [{"displayName": "Guest requests",
                                             "columns": [{"name": "Email", "text": {}, "required": True}]}]}]}}


GRANTS_END = "subscribe (SharePoint REST) refuses client-secret tokens"


def _run_until_banner(*args: str, until: str = "webhook retries:") -> list[str]:
    """Start the simulator, read its banner up to the line holding ``until``, then stop it with SIGTERM."""
    process = subprocess.Popen([sys.executable, "-m", "simulator", "--port", "0", *args], cwd=ROOT,  # noqa: S603
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    try:
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if until in line:
                break
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=30)
    assert any(until in line for line in lines), "\n".join(lines) + errors
    return lines


def test_the_default_seed_prints_the_partners_site_and_its_setting(tmp_path):
    lines = _run_until_banner("--workdir", str(tmp_path))
    [setting] = [line.strip() for line in lines if line.strip().startswith("SHAREPOINT_SITE_URL=")]
    site_url = setting.removeprefix("SHAREPOINT_SITE_URL=")
    assert re.fullmatch(r"https://localhost:\d+/sites/partners", site_url)
    assert any(line.strip().startswith(site_url) and "4f2c8a6e-0000-4000-8000-000000000001" in line for line in lines)
    assert any("webhook retries: 5 x every 300 s" in line for line in lines)


def test_a_seeded_list_id_is_printed_and_written_with_the_site_and_the_retry_scale_applies(tmp_path):
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps(SEED), encoding="utf-8")
    lines = _run_until_banner("--seed", str(seed), "--workdir", str(tmp_path), "--sharepoint-retry-scale", "0.001")
    [list_line] = [line for line in lines if "'Guest requests'" in line]
    list_id = re.search(r"list ([0-9a-f-]{36})", list_line).group(1)
    env = dict(line.split("=", 1) for line in (tmp_path / "simulator.env").read_text().splitlines())
    assert env["SHAREPOINT_LIST_ID"] == list_id
    assert env["SHAREPOINT_SITE_URL"].endswith("/sites/onboarding")
    assert f"  SHAREPOINT_LIST_ID={list_id}" in lines
    assert any("every 0.3 s (--sharepoint-retry-scale 0.001)" in line for line in lines)
    assert os.stat(tmp_path / "simulator.env").st_mode & 0o077 == 0


@pytest.fixture
def running(tmp_path):
    """A standalone default-seed simulator, left running for the test: (its banner, the env file's settings)."""
    process = subprocess.Popen([sys.executable, "-m", "simulator", "--port", "0", "--workdir", str(tmp_path)],  # noqa: S603
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines: list[str] = []
    try:
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if GRANTS_END in line:
                break
        assert any(GRANTS_END in line for line in lines), "\n".join(lines)
        env = dict(line.split("=", 1) for line in (tmp_path / "simulator.env").read_text().splitlines())
        yield lines, env
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def _sites_check(environ: dict[str, str]) -> dict:
    report = diagnose(environ)
    [check] = [c for c in report.checks if c.name == "permission Sites.Selected or Sites.ReadWrite.All"]
    return {"status": check.status.value, "detail": check.detail, "token": [c.status.value for c in report.checks
                                                                            if c.name == "graph token"]}


def test_the_standalone_default_seed_grants_sites_selected_and_a_write_grant_the_doctor_accepts(running, monkeypatch):
    lines, env = running
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", env["REQUESTS_CA_BUNDLE"])  # requests reads the process environment
    printed = [line.strip() for line in lines if line.strip().endswith("Sites.Selected + write on /sites/partners")]
    assert len(printed) == 4  # default_app, cert_app and both managed identities
    settings = {name: value for name, value in env.items() if not name.startswith("IDENTITY_")}
    check = _sites_check(settings)  # the written settings: default_app with its secret
    assert check["token"] == ["ok"] and check["status"] == "ok" and "Sites.Selected granted" in check["detail"]
    managed = {name: value for name, value in env.items() if not name.startswith("AZURE_CLIENT_")}
    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER"):  # azure-identity, too, reads the process environment
        monkeypatch.setenv(name, env[name])
    assert _sites_check(managed)["status"] == "ok"  # the system-assigned identity through IDENTITY_ENDPOINT


def test_the_written_settings_can_read_the_site_and_create_a_list_through_graph(running):
    _, env = running
    token = requests.post(f"{env['AZURE_AUTHORITY_HOST']}/{env['AZURE_TENANT_ID']}/oauth2/v2.0/token",
                          data={"grant_type": "client_credentials", "client_id": env["AZURE_CLIENT_ID"],
                                "client_secret": env["AZURE_CLIENT_SECRET"],
                                "scope": f"{env['GRAPH_ENDPOINT']}/.default"},
                          verify=env["REQUESTS_CA_BUNDLE"], timeout=30).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    host, path = env["SHAREPOINT_SITE_URL"].removeprefix("https://").split("/", 1)
    site = requests.get(f"{env['GRAPH_ENDPOINT']}/v1.0/sites/{host}:/{path}", headers=headers,
                        verify=env["REQUESTS_CA_BUNDLE"], timeout=30)
    assert site.status_code == 200, site.text
    created = requests.post(f"{env['GRAPH_ENDPOINT']}/v1.0/sites/{site.json()['id']}/lists", headers=headers,
                            json={"displayName": "Guest requests", "list": {"template": "genericList"}},
                            verify=env["REQUESTS_CA_BUNDLE"], timeout=30)
    assert created.status_code == 201, created.text  # what `cli.py sharepoint provision` does first


@pytest.mark.parametrize("value", ["-1", "nan", "fast"])
def test_a_negative_or_unreadable_retry_scale_is_refused(value, capsys):
    with pytest.raises(SystemExit):
        parse_args(["--sharepoint-retry-scale", value])
    assert "--sharepoint-retry-scale" in capsys.readouterr().err


def test_the_retry_scale_defaults_to_sharepoints_own_schedule():
    assert parse_args([]).sharepoint_retry_scale == 1.0
