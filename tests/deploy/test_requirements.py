"""requirements.in floors: every library feature the code relies on exists at the lowest version allowed."""

from __future__ import annotations

import re
from pathlib import Path

from urllib3.util import Retry

ROOT = Path(__file__).resolve().parents[2]
# The first urllib3 release whose Retry takes retry_after_max (checked in the released wheels' urllib3/util/retry.py:
# absent from 2.6.0, 2.6.1 and 2.6.2, present from 2.6.3); shared/graph.py parses Retry-After with it.
RETRY_AFTER_MAX_SINCE = (2, 6, 3)


def floor(package: str) -> tuple[int, ...]:
    text = (ROOT / "requirements.in").read_text(encoding="utf-8")
    match = re.search(rf"^{re.escape(package)}>=([\d.]+)", text, re.MULTILINE)
    assert match is not None, f"{package} has no >= floor in requirements.in"
    return tuple(int(part) for part in match[1].split("."))


def test_the_urllib3_floor_has_retry_after_max():
    assert floor("urllib3") >= RETRY_AFTER_MAX_SINCE


def test_the_installed_urllib3_caps_retry_after_as_the_graph_client_uses_it():
    assert Retry(retry_after_max=3600).parse_retry_after("7200") == 3600
