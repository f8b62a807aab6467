"""The national-cloud authority hosts the docs name are the ones MSAL knows today (issue 13 item 16): China's is
login.partner.microsoftonline.cn; login.chinacloudapi.cn is the deprecated one."""

from __future__ import annotations

import re
from pathlib import Path

from msal import authority

ROOT = Path(__file__).resolve().parents[2]


def authority_hosts_named(path: Path) -> set[str]:
    """Hosts in https://login… URLs on the AZURE_AUTHORITY_HOST rows of a settings table."""
    rows = [line for line in path.read_text(encoding="utf-8").splitlines()
            if line.startswith("| `AZURE_AUTHORITY_HOST`")]
    assert rows, f"{path.name} has no AZURE_AUTHORITY_HOST row"
    return {host for row in rows for host in re.findall(r"`https://(login[\w.-]+)`", row)}


def test_docs_name_only_current_msal_authority_hosts_china_included():
    hosts = authority_hosts_named(ROOT / "docs" / "api.md")
    assert "login.partner.microsoftonline.cn" in hosts
    assert authority.DEPRECATED_AZURE_CHINA not in hosts
    assert hosts <= authority.WELL_KNOWN_AUTHORITY_HOSTS
