"""A record logged with its traceback (a hook or the app failing unexpectedly) masks the addresses in it too: an
exception's message can quote one (Graph's texts do), and LOG_PII=false covers every path to the logs."""

from __future__ import annotations

import logging

import pytest

from shared import runtime
from shared.logging_setup import LOGGER_NAME
from simulator.graph.models import PARTNERS_GROUP_ID, PENDING_GUEST_ID

ADDRESS = "carol.pending@fabrikam.com"


@pytest.fixture
def failing_hook():
    def hook(outcome):
        raise ValueError(f"cannot record the outcome for {ADDRESS}")

    runtime.add_outcome_hook(hook)
    yield hook
    runtime.remove_outcome_hook(hook)


def logged_text(caplog) -> str:
    formatter = logging.Formatter("%(message)s")
    return "\n".join(formatter.format(record) for record in caplog.records if record.name == LOGGER_NAME)


def test_a_traceback_in_the_logs_has_its_addresses_masked(app, caplog, failing_hook):
    app.configure()
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)

    poison = app.deliver({"userId": PENDING_GUEST_ID, "groupId": PARTNERS_GROUP_ID})

    assert poison is None  # a failing hook neither undoes nor repeats the membership
    text = logged_text(caplog)
    assert "membership.hook_failed" in text and "ValueError" in text  # the traceback is still there
    assert ADDRESS not in text and "c***@fabrikam.com" in text


def test_with_log_pii_the_traceback_is_logged_as_it_is(app, caplog, failing_hook):
    app.configure(LOG_PII="true")
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)

    app.deliver({"userId": PENDING_GUEST_ID, "groupId": PARTNERS_GROUP_ID})

    assert ADDRESS in logged_text(caplog)
