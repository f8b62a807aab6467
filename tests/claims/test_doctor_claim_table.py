"""The doctor's check of the claim table (shared/storage_checks.claim_table_check), against Azurite: readable,
not created yet (fine: the first claim creates it), refused (403: the fix names the table role), unreachable."""

from __future__ import annotations

import re

import pytest
from azure.data.tables import TableServiceClient

from shared.claims import TABLE
from shared.diagnostics_report import Status
from shared.storage import storage_target
from shared.storage_checks import claim_table_check

pytestmark = pytest.mark.azurite


def _check(connection: str):
    environ = {"AzureWebJobsStorage": connection}
    return claim_table_check(environ, storage_target(environ))


def test_a_readable_table_and_a_table_not_created_yet_are_both_ok(azurite: str) -> None:
    service = TableServiceClient.from_connection_string(azurite)
    service.delete_table(TABLE)
    absent = _check(azurite)
    service.create_table(TABLE)
    present = _check(azurite)
    assert (absent.status, present.status) == (Status.OK, Status.OK)
    assert "not created yet" in absent.detail and present.detail.startswith("reachable")


def test_a_refused_identity_is_an_error_naming_the_table_role(azurite: str) -> None:
    wrong_key = re.sub(r"AccountKey=[^;]+", "AccountKey=d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk=", azurite)
    check = _check(wrong_key)
    assert check.status is Status.ERROR and check.detail.startswith("refused (403")
    assert "Storage Table Data Contributor" in check.fix
    assert "d3Jvbmc" not in check.detail + check.fix  # never the key


def test_an_unreachable_table_endpoint_is_an_error(azurite: str) -> None:
    closed = re.sub(r"TableEndpoint=http://[^/]+", "TableEndpoint=http://127.0.0.1:9", azurite)
    check = _check(closed)
    assert check.status is Status.ERROR and check.detail.startswith("unreachable")
