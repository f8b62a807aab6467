"""The SharePoint worker's table and queue from the storage settings the deployment has: in Azure there is no
``AzureWebJobsStorage`` connection string, only the identity-based ``AzureWebJobsStorage__*`` settings with the
managed identity (checked without network: endpoints and credential; Azurite covers the connection string)."""

from __future__ import annotations

import uuid

import pytest
from azure.identity import ManagedIdentityCredential

from shared.settings import SettingsError
from shared.sharepoint import storage
from shared.sharepoint.changes import MEMBERSHIP_QUEUE
from shared.sharepoint.state import TABLE, SharePointState

USER_IDENTITY = "6c8e0a2b-3d4f-4b6c-9d7e-8f9a0b1c2d02"
IDENTITY_BASED = {"AzureWebJobsStorage__tableServiceUri": "https://stguests.table.core.windows.net/",
                  "AzureWebJobsStorage__queueServiceUri": "https://stguests.queue.core.windows.net",
                  "AzureWebJobsStorage__credential": "managedidentity",
                  "AzureWebJobsStorage__clientId": USER_IDENTITY}


@pytest.fixture(autouse=True)
def _fresh_clients():
    storage.reset()
    yield
    storage.reset()


def test_identity_based_settings_give_the_state_table_and_the_membership_queue_with_the_managed_identity():
    table = storage.table_client(TABLE, IDENTITY_BASED)
    queue = storage.queue_client(MEMBERSHIP_QUEUE, IDENTITY_BASED)
    assert table.url.startswith("https://stguests.table.core.windows.net") and table.table_name == TABLE
    assert queue.url.startswith("https://stguests.queue.core.windows.net") and queue.queue_name == MEMBERSHIP_QUEUE
    assert isinstance(table.credential, ManagedIdentityCredential)
    assert isinstance(queue.credential, ManagedIdentityCredential)
    assert SharePointState(table).table is table


def test_an_account_name_alone_derives_both_endpoints():
    env = {"AzureWebJobsStorage__accountName": "stguests", "AzureWebJobsStorage__credential": "managedidentity"}
    assert storage.table_client(TABLE, env).url.startswith("https://stguests.table.core.windows.net")
    assert storage.queue_client(MEMBERSHIP_QUEUE, env).url.startswith("https://stguests.queue.core.windows.net")


def test_a_client_is_built_once_per_storage_target():
    first = storage.table_client(TABLE, IDENTITY_BASED)
    assert storage.table_client(TABLE, dict(IDENTITY_BASED)) is first
    elsewhere = {**IDENTITY_BASED, "AzureWebJobsStorage__tableServiceUri": "https://other.table.core.windows.net"}
    assert storage.table_client(TABLE, elsewhere) is not first


def test_identity_based_settings_without_a_table_endpoint_name_the_missing_setting():
    env = {"AzureWebJobsStorage__queueServiceUri": "https://stguests.queue.core.windows.net",
           "AzureWebJobsStorage__credential": "managedidentity"}
    with pytest.raises(SettingsError) as raised:
        storage.table_client(TABLE, env)
    assert raised.value.names == ["AzureWebJobsStorage__tableServiceUri"]


def test_no_storage_setting_at_all_names_azure_web_jobs_storage():
    with pytest.raises(SettingsError) as raised:
        storage.table_client(f"t{uuid.uuid4().hex[:8]}", {})
    assert raised.value.names == ["AzureWebJobsStorage"]


@pytest.mark.azurite
def test_the_connection_string_still_reaches_azurite(azurite):
    table = storage.table_client(f"sp{uuid.uuid4().hex[:12]}", {"AzureWebJobsStorage": azurite})
    state = SharePointState(table)
    try:
        state.start_progress("list", "1", ["g1", "g2"])
        assert state.record_membership("list", "1", "g1", None).complete is False
        assert state.record_membership("list", "1", "g2", "refused").failed == {"g2": "refused"}
        assert state.record_membership("list", "1", "g2", None).complete is True  # a later success wins
        assert state.record_membership("list", "1", "g2", None).failed == {}
    finally:
        table.delete_table()


@pytest.mark.parametrize("connection", ["x" * 5000, "AccountName=" + "y" * 5000, "AccountKey=secret-key-value"])
def test_a_malformed_connection_string_is_named_and_never_echoed(connection):
    # The SDK refuses it with ValueError, which used to surface as "the app failed unexpectedly" (a bug verdict).
    for make in (storage.table_client, storage.queue_client):
        storage.reset()
        with pytest.raises(SettingsError) as raised:
            make(TABLE if make is storage.table_client else MEMBERSHIP_QUEUE, {"AzureWebJobsStorage": connection})
        assert "AzureWebJobsStorage" in str(raised.value.problems)
        assert "yyyy" not in str(raised.value.problems) and "secret" not in str(raised.value.problems)


def test_an_unknown_credential_kind_is_refused_by_name_without_its_value():
    with pytest.raises(SettingsError) as raised:
        storage.table_client(TABLE, {**IDENTITY_BASED, "AzureWebJobsStorage__credential": "z" * 5000})
    assert raised.value.problems == {"AzureWebJobsStorage__credential": "the only value is managedidentity"}
