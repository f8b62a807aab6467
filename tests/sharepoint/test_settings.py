"""The SharePoint settings: optional for the app, checked and named when a SharePoint feature needs them."""

from __future__ import annotations

import pytest

from shared.settings import Settings, SettingsError
from shared.sharepoint import config

SITE = "https://contoso.sharepoint.com/sites/partners"
LIST_ID = "8f3c0a2e-1111-4222-8333-944455556666"


def test_the_app_runs_without_any_sharepoint_setting():
    settings = Settings.from_env({})
    assert settings.sharepoint_site_url is None and settings.sharepoint_list_id is None


@pytest.mark.parametrize(("name", "value"), [
    ("SHAREPOINT_SITE_URL", "http://contoso.sharepoint.com/sites/partners"),
    ("SHAREPOINT_SITE_URL", "contoso.sharepoint.com/sites/partners"),
    ("SHAREPOINT_LIST_ID", "Guest requests"),
    ("SHAREPOINT_NOTIFICATION_URL", "http://app.example/api/sharepoint/notifications?code=x"),
])
def test_a_malformed_sharepoint_setting_fails_where_sharepoint_runs_naming_it_not_the_app(name, value):
    settings = Settings.from_env({name: value})  # the invitation doors keep working
    with pytest.raises(SettingsError) as caught:
        config.require(settings, name)
    assert caught.value.names == [name] and value not in str(caught.value)
    assert dict(settings.sharepoint_problems)[name] and getattr(settings, name.lower()) is None


def test_a_feature_names_each_setting_it_lacks_and_refuses_a_short_client_state():
    settings = Settings.from_env({"SHAREPOINT_SITE_URL": SITE, "SHAREPOINT_CLIENT_STATE": "short"})
    with pytest.raises(SettingsError) as caught:
        config.require(settings, "SHAREPOINT_SITE_URL", "SHAREPOINT_LIST_ID", "SHAREPOINT_CLIENT_STATE",
                       "SHAREPOINT_NOTIFICATION_URL")
    assert caught.value.names == ["SHAREPOINT_LIST_ID", "SHAREPOINT_NOTIFICATION_URL", "SHAREPOINT_CLIENT_STATE"]
    assert "short" not in str(caught.value)


def test_site_address_splits_host_and_path_for_graph():
    settings = Settings.from_env({"SHAREPOINT_SITE_URL": SITE + "/", "SHAREPOINT_LIST_ID": LIST_ID.upper()})
    site = config.site_address(settings)
    assert (site.hostname, site.path, site.origin) == ("contoso.sharepoint.com", "/sites/partners",
                                                       "https://contoso.sharepoint.com")
    assert settings.sharepoint_list_id == LIST_ID
    with pytest.raises(SettingsError):
        config.site_address(Settings.from_env({"SHAREPOINT_SITE_URL": "https://contoso.sharepoint.com"}))
