"""The Azure SDKs' per-request log stays out of the app's traces: an invitation through the worker writes its status
record and claim to storage (Azurite) and leaves no INFO record of the SDK's HttpLoggingPolicy, while the app's
own records are all there (docs/api.md, Logs)."""

from __future__ import annotations

import logging

from shared.logging_setup import AZURE_HTTP_LOGGER, LOGGER_NAME
from simulator.graph.models import PARTNERS_GROUP_ID


def test_an_invitation_logs_its_own_records_and_not_every_storage_request(app, caplog):
    caplog.set_level(logging.INFO)  # host.json's Information, on the root logger as the worker sets it
    answer = app.invite({"email": "alice@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})

    assert answer.status == 201
    assert logging.getLogger(AZURE_HTTP_LOGGER).getEffectiveLevel() == logging.WARNING
    assert [r for r in caplog.records if r.name == AZURE_HTTP_LOGGER and r.levelno < logging.WARNING] == []
    assert any(r.name == LOGGER_NAME and r.getMessage().startswith("invite.done") for r in caplog.records)
