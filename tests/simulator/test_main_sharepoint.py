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

from simulator.__main__ import parse_args

ROOT = Path(__file__).resolve().parents[2]
SEED = {"sharepoint": {"sites": [{"path": "/sites/onboarding", "displayName": "Onboarding",
                                  "lists": [{"displayName": "Guest requests",
                                             "columns": [{"name": "Email", "text": {}, "required": True}]}]}]}}


def _run_until_banner(*args: str) -> list[str]:
    """Start the simulator, read its banner up to the SharePoint retry line, then stop it with SIGTERM."""
    process = subprocess.Popen([sys.executable, "-m", "simulator", "--port", "0", *args], cwd=ROOT,  # noqa: S603
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    try:
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if "webhook retries:" in line:
                break
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=30)
    assert any("webhook retries:" in line for line in lines), "\n".join(lines) + errors
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


@pytest.mark.parametrize("value", ["-1", "nan", "fast"])
def test_a_negative_or_unreadable_retry_scale_is_refused(value, capsys):
    with pytest.raises(SystemExit):
        parse_args(["--sharepoint-retry-scale", value])
    assert "--sharepoint-retry-scale" in capsys.readouterr().err


def test_the_retry_scale_defaults_to_sharepoints_own_schedule():
    assert parse_args([]).sharepoint_retry_scale == 1.0
