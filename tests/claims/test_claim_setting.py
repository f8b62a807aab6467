"""INVITE_CLAIM_SECONDS: a whole number of seconds from 1 to 3600, default 180; a bad value is a settings error
naming it (and, through the HTTP door, 503 not-configured), never a silent default."""

from __future__ import annotations

import pytest

from shared.claims import DEFAULT_EXPIRY_SECONDS, claim_key
from shared.settings import Settings, SettingsError

BASE = {"AZURE_TENANT_ID": "contoso.onmicrosoft.com", "AZURE_CLIENT_ID": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "AZURE_CLIENT_SECRET": "s"}


def test_the_default_is_the_documented_180_seconds():
    assert Settings.from_env(BASE).invite_claim_seconds == DEFAULT_EXPIRY_SECONDS == 180


@pytest.mark.parametrize("value", ["1", "30", "3600"])
def test_a_whole_number_in_range_is_taken(value):
    assert Settings.from_env({**BASE, "INVITE_CLAIM_SECONDS": value}).invite_claim_seconds == int(value)


@pytest.mark.parametrize("value", ["0", "3601", "-5", "2.5", "abc", "\u00b2", "\uff11\uff18\uff10"])
def test_anything_else_is_refused_naming_the_setting(value):
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({**BASE, "INVITE_CLAIM_SECONDS": value})
    assert raised.value.names == ["INVITE_CLAIM_SECONDS"]
    assert str(raised.value) == "INVITE_CLAIM_SECONDS: is not a whole number of seconds from 1 to 3600"  # no value


def test_the_key_is_one_per_person_and_never_the_address():
    assert claim_key("Alice@Fabrikam.com") == claim_key("alice@fabrikam.com")
    assert claim_key("alice@fabrikam.com") != claim_key("alice@fabrikam.org")
    key = claim_key("alice@fabrikam.com")
    assert len(key) == 64 and "alice" not in key
