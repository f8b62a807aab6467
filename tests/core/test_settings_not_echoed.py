"""A malformed setting is reported by name and reason, never by value: a URL setting can carry a key."""

from __future__ import annotations

import pytest

from shared.settings import Settings, SettingsError

KEY = "s3cr3t-function-key-value"


@pytest.mark.parametrize(("name", "value"), [
    ("INVITE_REDIRECT_URL", f"ftp://x.example/?token={KEY}"),
    ("GRAPH_ENDPOINT", f"https://graph.microsoft.com/v1.0?{KEY}"),
    ("AZURE_TENANT_ID", KEY),
    ("AZURE_CLIENT_ID", KEY),
    ("LOG_PII", KEY),
    ("BLOCKED_EMAIL_DOMAINS", f"fabrikam.com,{KEY}"),
])
def test_a_malformed_setting_is_named_without_its_value(name, value):
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"ALLOWED_GROUP_IDS": "*", name: value})
    assert name in str(raised.value) and KEY not in str(raised.value)
    assert KEY not in repr(raised.value.problems)


def test_a_malformed_sharepoint_setting_is_named_without_its_value_where_sharepoint_runs():
    from shared.sharepoint import config

    settings = Settings.from_env({"ALLOWED_GROUP_IDS": "*", "SHAREPOINT_NOTIFICATION_URL":
                                  f"http://app.example/api/sharepoint/notifications?code={KEY}"})
    assert KEY not in repr(settings.sharepoint_problems) and KEY not in repr(settings)
    with pytest.raises(SettingsError) as raised:
        config.require(settings, "SHAREPOINT_NOTIFICATION_URL")
    assert "SHAREPOINT_NOTIFICATION_URL" in str(raised.value) and KEY not in str(raised.value)


def test_a_bad_item_of_a_list_setting_is_named_by_position():
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"ALLOWED_EMAIL_DOMAINS": "fabrikam.com, ,not a domain"})
    assert raised.value.problems["ALLOWED_EMAIL_DOMAINS"] == "item 3 is not a domain name or '*.domain' pattern"
