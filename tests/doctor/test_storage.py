"""shared/storage.py: clients from AzureWebJobsStorage as the host reads it (Azurite for the connection string;
the identity-based form is checked without network: endpoints and credential only)."""

from __future__ import annotations

import uuid

import pytest
from azure.identity import AzureCliCredential, ManagedIdentityCredential

from shared.settings import SettingsError
from shared.storage import queue_service, storage_target, table_service

USER_IDENTITY = "6c8e0a2b-3d4f-4b6c-9d7e-8f9a0b1c2d02"


@pytest.mark.azurite
def test_a_connection_string_reaches_azurite_queues_and_tables(azurite):
    env = {"AzureWebJobsStorage": azurite}
    name = f"doctor{uuid.uuid4().hex[:12]}"
    queue = queue_service(env).get_queue_client(name)
    queue.create_queue()
    try:
        queue.send_message('{"userId": "u", "groupId": "g"}')
        assert [m.content for m in queue.peek_messages()] == ['{"userId": "u", "groupId": "g"}']
    finally:
        queue.delete_queue()
    tables = table_service(env)
    table = tables.create_table(name)
    try:
        table.upsert_entity({"PartitionKey": "p", "RowKey": "r", "state": "done"})
        assert table.get_entity("p", "r")["state"] == "done"
    finally:
        tables.delete_table(name)


def test_use_development_storage_means_azurite_on_loopback():
    env = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}
    assert queue_service(env).url.startswith("http://127.0.0.1:10001/devstoreaccount1")
    assert table_service(env).url.startswith("http://127.0.0.1:10002")


def test_an_account_name_gives_the_public_cloud_endpoints_and_a_user_assigned_identity():
    env = {"AzureWebJobsStorage__accountName": "stguests", "AzureWebJobsStorage__credential": "managedidentity",
           "AzureWebJobsStorage__clientId": USER_IDENTITY}
    target = storage_target(env)
    assert target.queue_url == "https://stguests.queue.core.windows.net"
    assert target.table_url == "https://stguests.table.core.windows.net"
    queues, tables = queue_service(env), table_service(env)
    assert queues.url.startswith("https://stguests.queue.core.windows.net")
    assert tables.url.startswith("https://stguests.table.core.windows.net")
    assert isinstance(queues.credential, ManagedIdentityCredential) and target.client_id == USER_IDENTITY
    assert USER_IDENTITY in target.describe()


def test_explicit_service_uris_win_over_the_account_name():
    env = {"AzureWebJobsStorage__accountName": "ignored", "AzureWebJobsStorage__credential": "managedidentity",
           "AzureWebJobsStorage__queueServiceUri": "https://stguests.queue.core.usgovcloudapi.net/",
           "AzureWebJobsStorage__tableServiceUri": "https://stguests.table.core.usgovcloudapi.net"}
    target = storage_target(env)
    assert target.queue_url == "https://stguests.queue.core.usgovcloudapi.net"
    assert target.table_url == "https://stguests.table.core.usgovcloudapi.net"
    assert target.client_id is None and "system-assigned" in target.describe()


def test_on_an_azure_host_without_credential_setting_the_managed_identity_is_used():
    env = {"AzureWebJobsStorage__accountName": "stguests", "IDENTITY_ENDPOINT": "http://localhost:8081/msi/token"}
    assert storage_target(env).credential == "managedidentity"


def test_off_azure_the_identity_based_form_uses_the_developers_azure_cli_login():
    env = {"AzureWebJobsStorage__queueServiceUri": "https://stguests.queue.core.windows.net"}
    assert isinstance(queue_service(env).credential, AzureCliCredential)
    with pytest.raises(SettingsError) as raised:  # no table endpoint given
        table_service(env)
    assert raised.value.names == ["AzureWebJobsStorage__tableServiceUri"]


def test_no_storage_setting_is_an_error_naming_it():
    with pytest.raises(SettingsError) as raised:
        queue_service({})
    assert raised.value.names == ["AzureWebJobsStorage"]


def test_an_unknown_credential_kind_is_named():
    with pytest.raises(SettingsError) as raised:
        storage_target({"AzureWebJobsStorage__accountName": "stguests", "AzureWebJobsStorage__credential": "secret"})
    assert raised.value.names == ["AzureWebJobsStorage__credential"]


def test_the_target_never_shows_the_account_key(azurite):
    target = storage_target({"AzureWebJobsStorage": azurite})
    key = azurite.split("AccountKey=")[1].split(";")[0]
    assert key not in repr(target) and key not in target.describe()
