"""bench/side_by_side.py's clients, small: what its connection and token columns rest on, counted by the simulator
(the msgraph-sdk client needs its own virtual environment from PyPI, so it is left to the benchmark itself)."""

from __future__ import annotations

import sys
from pathlib import Path

from bench.side_by_side import one_client, table


def test_the_app_keeps_one_graph_connection_and_one_token_for_every_onboarding(azurite, monkeypatch) -> None:
    monkeypatch.setenv("AzureWebJobsStorage", azurite)  # the status record is written before the answer
    result = one_client("app", Path(sys.executable), 4, 3)

    # 5 onboardings into 3 groups: one login connection (discovery + token) and one Graph connection in all.
    assert (result["connections"], result["tokens"], result["onboardings"]) == (2, 1, 5)
    assert result["memberships"] == 5 * 3  # each guest really in each group
    assert result["start_to_first_s"] > 0 and result["cpu_ms"] > 0 and result["rss_kib"] > 0


def test_the_seed_style_client_pays_a_token_and_two_connections_per_onboarding(azurite, monkeypatch) -> None:
    monkeypatch.setenv("AzureWebJobsStorage", azurite)
    result = one_client("seed", Path(sys.executable), 4, 1)

    assert (result["connections"], result["tokens"]) == (2 * 5, 5)
    assert result["memberships"] == 5


def test_the_table_shows_each_client_with_its_ratio_to_the_app() -> None:
    figures = {"start_to_first_s": 0.5, "cpu_ms": 2.0, "wall_ms": 4.0, "rss_kib": 40 * 1024, "connections": 2,
               "tokens": 1}
    run = {client: {1: dict(figures), 3: dict(figures)} for client in ("app", "sdk", "seed")}
    run["sdk"][1]["cpu_ms"] = 10.0

    lines = table([run], 10, 5)

    cpu = next(line for line in lines if line.startswith("| client CPU"))
    assert cpu == "| client CPU per onboarding, k=1 (ms) | 2.00 | 10.00 [5.0x] | 2.00 [1.0x] |"
