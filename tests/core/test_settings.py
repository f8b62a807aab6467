"""Settings are read once, validated, and a bad value names its setting (also in the HTTP answer: 503)."""

from __future__ import annotations

import pytest

from shared.settings import (
    DEFAULT_AUTHORITY_HOST,
    DEFAULT_GRAPH_ENDPOINT,
    DEFAULT_INVITE_REDIRECT_URL,
    CredentialMode,
    Settings,
    SettingsError,
)
from simulator.graph.models import PARTNERS_GROUP_ID

TENANT = "7c0f6a5e-4b1d-4c6e-9a55-3d0c2f1b8e01"
CLIENT = "3f1e6b2a-8c4d-4e5f-9a6b-1c2d3e4f5a01"
GROUP = "1b5e0c9a-0000-4000-8000-000000000001"
SECRET_ENV = {"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": CLIENT, "AZURE_CLIENT_SECRET": "s3cr3t-value"}


def test_defaults_are_the_public_cloud_and_no_groups_allowed():
    settings = Settings.from_env(SECRET_ENV)
    assert settings.credential_mode is CredentialMode.SECRET
    assert settings.authority_host == DEFAULT_AUTHORITY_HOST
    assert settings.graph_endpoint == DEFAULT_GRAPH_ENDPOINT
    assert settings.graph_scope == "https://graph.microsoft.com/.default"
    assert settings.invite_redirect_url == DEFAULT_INVITE_REDIRECT_URL
    assert not settings.allow_any_group and settings.allowed_group_ids == frozenset()
    assert settings.log_pii is False


def test_no_secret_and_no_certificate_selects_system_assigned_managed_identity():
    settings = Settings.from_env({})
    assert settings.credential_mode is CredentialMode.MANAGED_IDENTITY
    assert settings.client_id is None


def test_client_id_alone_selects_user_assigned_managed_identity():
    settings = Settings.from_env({"AZURE_CLIENT_ID": CLIENT.upper()})
    assert settings.credential_mode is CredentialMode.MANAGED_IDENTITY
    assert settings.client_id == CLIENT


def test_certificate_path_selects_certificate_mode():
    settings = Settings.from_env({"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": CLIENT,
                                  "AZURE_CLIENT_CERTIFICATE_PATH": "/certs/app.pfx",
                                  "AZURE_CLIENT_CERTIFICATE_PASSWORD": "pw"})
    assert settings.credential_mode is CredentialMode.CERTIFICATE
    assert settings.certificate_path == "/certs/app.pfx"


def test_the_secret_and_certificate_password_stay_out_of_repr():
    env = {**SECRET_ENV}
    assert "s3cr3t-value" not in repr(Settings.from_env(env))


@pytest.mark.parametrize(("env", "setting"), [
    ({"AZURE_CLIENT_ID": CLIENT, "AZURE_CLIENT_SECRET": "x"}, "AZURE_TENANT_ID"),
    ({"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_SECRET": "x"}, "AZURE_CLIENT_ID"),
    ({**SECRET_ENV, "AZURE_CLIENT_CERTIFICATE_PATH": "/c.pem"}, "AZURE_CLIENT_CERTIFICATE_PATH"),
    ({"AZURE_CLIENT_CERTIFICATE_PASSWORD": "pw"}, "AZURE_CLIENT_CERTIFICATE_PASSWORD"),
    ({**SECRET_ENV, "AZURE_CLIENT_ID": "not-a-guid"}, "AZURE_CLIENT_ID"),
    ({**SECRET_ENV, "AZURE_TENANT_ID": "contoso"}, "AZURE_TENANT_ID"),
    ({**SECRET_ENV, "AZURE_AUTHORITY_HOST": "http://login.example"}, "AZURE_AUTHORITY_HOST"),
    ({**SECRET_ENV, "AZURE_AUTHORITY_HOST": "https://login.example/tenant"}, "AZURE_AUTHORITY_HOST"),
    ({**SECRET_ENV, "GRAPH_ENDPOINT": "https://graph.microsoft.com/v1.0"}, "GRAPH_ENDPOINT"),
    ({**SECRET_ENV, "GRAPH_ENDPOINT": "graph.microsoft.com"}, "GRAPH_ENDPOINT"),
    ({**SECRET_ENV, "INVITE_REDIRECT_URL": "http://myapps.example"}, "INVITE_REDIRECT_URL"),
    ({**SECRET_ENV, "ALLOWED_GROUP_IDS": f"{GROUP},finance"}, "ALLOWED_GROUP_IDS"),
    ({**SECRET_ENV, "ALLOWED_EMAIL_DOMAINS": "fabrikam"}, "ALLOWED_EMAIL_DOMAINS"),
    ({**SECRET_ENV, "BLOCKED_EMAIL_DOMAINS": "*.-bad.example"}, "BLOCKED_EMAIL_DOMAINS"),
    ({**SECRET_ENV, "LOG_PII": "maybe"}, "LOG_PII"),
])
def test_a_bad_setting_fails_naming_it(env, setting):
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env)
    assert setting in raised.value.names
    assert setting in str(raised.value)


def test_every_bad_setting_is_reported_at_once():
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({**SECRET_ENV, "GRAPH_ENDPOINT": "ftp://x", "LOG_PII": "perhaps",
                           "ALLOWED_GROUP_IDS": "nope"})
    assert set(raised.value.names) == {"GRAPH_ENDPOINT", "LOG_PII", "ALLOWED_GROUP_IDS"}


def test_lists_are_parsed_and_normalised():
    settings = Settings.from_env({**SECRET_ENV, "ALLOWED_GROUP_IDS": f" {GROUP.upper()} , ,",
                                  "ALLOWED_EMAIL_DOMAINS": "Fabrikam.com, *.Northwind.example",
                                  "AZURE_AUTHORITY_HOST": "https://login.microsoftonline.us/",
                                  "GRAPH_ENDPOINT": "https://graph.microsoft.us/", "LOG_PII": "TRUE"})
    assert settings.allowed_group_ids == frozenset({GROUP})
    assert settings.allowed_email_domains == ("fabrikam.com", "*.northwind.example")
    assert settings.authority_host == "https://login.microsoftonline.us"
    assert settings.graph_base_url == "https://graph.microsoft.us/v1.0"
    assert settings.log_pii is True


def test_a_star_allows_every_group():
    settings = Settings.from_env({**SECRET_ENV, "ALLOWED_GROUP_IDS": "*"})
    assert settings.allow_any_group


def test_a_misconfigured_app_answers_503_naming_the_setting_without_calling_graph(app):
    app.configure(ALLOWED_GROUP_IDS="finance-team")
    answer = app.invite({"email": "alice@fabrikam.com"})
    assert answer.status == 503
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.body["type"].endswith(":not-configured")
    assert answer.body["settings"][0]["name"] == "ALLOWED_GROUP_IDS"
    assert "Retry-After" in answer.headers
    assert app.sim.stats.count() == 0


@pytest.mark.parametrize(("name", "value"), [("SHAREPOINT_LIST_ID", "Guest requests"),
                                             ("SHAREPOINT_NOTIFICATION_URL", "http://app.example/api/x?code=KEY")])
def test_one_bad_sharepoint_setting_does_not_take_the_invite_endpoint_down(app, name, value):
    app.configure(**{name: value})
    answer = app.invite({"email": "alice@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
    assert answer.status == 201 and len(answer.messages) == 1
    assert app.deliver(answer.messages[0]) is None


def test_an_unreadable_certificate_answers_503_naming_the_setting(app, tmp_path):
    app.configure("pem", AZURE_CLIENT_CERTIFICATE_PATH=str(tmp_path / "missing.pem"))
    answer = app.invite({"email": "alice@fabrikam.com"})
    assert answer.status == 503
    assert [s["name"] for s in answer.body["settings"]] == ["AZURE_CLIENT_CERTIFICATE_PATH"]


def test_a_wrong_pfx_password_answers_503_naming_the_certificate_settings(app):
    app.configure("pfx", AZURE_CLIENT_CERTIFICATE_PASSWORD="wrong")
    answer = app.invite({"email": "alice@fabrikam.com"})
    assert answer.status == 503
    assert "AZURE_CLIENT_CERTIFICATE_PASSWORD" in answer.body["settings"][0]["message"]
    assert app.sim.stats.count(service="graph") == 0


def test_fixing_the_settings_takes_effect_without_a_restart(app):
    app.configure(GRAPH_ENDPOINT="not a url")
    assert app.invite({"email": "alice@fabrikam.com"}).status == 503
    app.monkeypatch.setenv("GRAPH_ENDPOINT", app.sim.graph_endpoint)
    assert app.invite({"email": "alice@fabrikam.com"}).status == 201
