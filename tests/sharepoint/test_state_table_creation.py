"""The SharePoint state table is created (or found) once per process, not on every invocation: each membership
outcome of a row used to start with a Create Table request that Azurite/Storage answered 409."""

from __future__ import annotations

import logging

import pytest

from simulator.graph.models import FALCON_GROUP_ID, PARTNERS_GROUP_ID

pytestmark = pytest.mark.azurite

HTTP_LOG = "azure.core.pipeline.policies.http_logging_policy"


def create_table_requests(caplog) -> int:
    """Create Table is ``POST {table endpoint}/Tables`` (Table service REST API), seen in azure-core's request log."""
    return sum(1 for record in caplog.records if record.name == HTTP_LOG
               and "Request method: 'POST'" in record.getMessage()
               and "/Tables'" in record.getMessage())


def test_the_state_table_is_created_once_however_many_invocations_use_it(sp_app, caplog):
    caplog.set_level(logging.INFO, logger=HTTP_LOG)
    sp_app.provision()
    code, output = sp_app.cli("sharepoint", "subscribe")
    assert code == 0, output
    rows = [sp_app.add_row(Email=f"guest{n}@fabrikam.com", GroupIds=f"{PARTNERS_GROUP_ID};{FALCON_GROUP_ID}")
            for n in range(2)]
    sp_app.sim.sharepoint.notifier.wait_idle()

    sp_app.settle()

    assert [sp_app.row(row)["Status"] for row in rows] == ["Added", "Added"]
    memberships = [i for i in sp_app.queues.invocations if i.function == "add_membership"]
    # 4 memberships, and a hold (put back for the learned delay) for each one run before its guest was that old
    assert 4 < len(memberships) <= 8
    assert create_table_requests(caplog) <= 2  # once per table: sharepointstate, invitationstatus
