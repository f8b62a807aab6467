"""A malformed setting stops `cli.py invite` and `cli.py bulk` with exit 2, naming the setting, before any call."""

from __future__ import annotations

import io

from guest_cli import build_parser
from guest_cli.bulk.command import BulkOptions, run_bulk
from simulator import Simulator
from tests.bulk.conftest import configure, graph_calls


def test_invite_names_a_malformed_setting_and_exits_2(sim: Simulator, monkeypatch) -> None:
    configure(sim, monkeypatch, ALLOWED_GROUP_IDS="not-a-group-id")

    args, err = build_parser().parse_args(["invite", "alice@fabrikam.com"]), io.StringIO()
    code = args.handler(args, io.StringIO(), err)

    assert code == 2
    assert "error: setting ALLOWED_GROUP_IDS: 'not-a-group-id' is not a group id" in err.getvalue()
    assert graph_calls(sim) == 0


def test_bulk_names_a_malformed_setting_and_exits_2(sim: Simulator, monkeypatch, tmp_path) -> None:
    configure(sim, monkeypatch, LOG_PII="perhaps")
    csv_file = tmp_path / "guests.csv"
    csv_file.write_text("email\nalice@fabrikam.com\n", encoding="utf-8")

    err = io.StringIO()
    code = run_bulk(csv_file, BulkOptions(), io.StringIO(), err)

    assert code == 2
    assert "error: setting LOG_PII: is not a boolean" in err.getvalue()
    assert graph_calls(sim) == 0
