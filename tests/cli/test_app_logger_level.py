"""The CLI quiets the app's structured records for its own run only: after a command returns, the process's
logger is as it was (a caller, or the next test, still sees its records)."""

from __future__ import annotations

import logging

import pytest

from guest_cli import main
from shared.logging_setup import LOGGER_NAME


@pytest.mark.parametrize("argv", [
    ["invite", "not-an-address"],  # exits 2 before any Graph call
    ["invite", "not-an-address", "--verbose"],
    ["bulk", "/nonexistent/guests.csv"],  # exits 2: the file cannot be read
], ids=["invite", "invite-verbose", "bulk"])
def test_a_cli_command_leaves_the_app_logger_level_as_it_found_it(argv: list[str]) -> None:
    logger = logging.getLogger(LOGGER_NAME)
    before = logger.level
    assert before != logging.CRITICAL and before != logging.INFO  # the conftest sets DEBUG: a change would show

    assert main(argv) == 2

    assert logger.level == before
    assert logger.isEnabledFor(logging.WARNING)
