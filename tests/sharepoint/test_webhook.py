"""The webhook door, called through the real Functions worker (devhost) with the request as the host sends it."""

from __future__ import annotations

import json
import logging
import uuid
from urllib.parse import urlencode

import azure.functions as func
import pytest

import devhost
from shared import runtime

LIST_ID = str(uuid.uuid4())
STATE = "a-long-client-state-secret-value"


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch):
    for name in ("AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_TENANT_ID", "AZURE_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SHAREPOINT_LIST_ID", LIST_ID)
    monkeypatch.setenv("SHAREPOINT_CLIENT_STATE", STATE)
    runtime.reset()
    host = devhost.worker()

    def call(body: bytes = b"", params: dict[str, str] | None = None) -> tuple[func.HttpResponse, list[str]]:
        query = f"?{urlencode(params)}" if params else ""
        called = host.http("sharepoint_notifications", "POST",
                           f"https://app.example/api/sharepoint/notifications{query}",
                           headers={"Content-Type": "application/json"}, body=body)
        called.raise_error()
        assert called.response is not None
        return called.response, called.outputs.get("sharepoint-notifications", [])

    yield call
    runtime.reset()


def entry(**overrides) -> dict:
    return {"subscriptionId": str(uuid.uuid4()), "clientState": STATE, "expirationDateTime": "2027-01-01T00:00:00Z",
            "resource": LIST_ID, "tenantId": str(uuid.uuid4()), "siteUrl": "/sites/partners",
            "webId": str(uuid.uuid4()), **overrides}


def test_validation_token_is_echoed_as_plain_text_without_settings(webhook, monkeypatch):
    monkeypatch.delenv("SHAREPOINT_CLIENT_STATE")
    runtime.reset()
    response, messages = webhook(params={"code": "key", "validationtoken": "abc-123 +/="})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain") and response.get_body() == b"abc-123 +/="
    assert messages == []


def test_each_valid_entry_becomes_one_message_without_the_client_state(webhook):
    response, messages = webhook(json.dumps({"value": [entry(), entry()]}).encode())
    assert response.status_code == 202
    assert json.loads(response.get_body()) == {"accepted": 2, "queued": 1, "refused": 0}
    assert len(messages) == 1  # one delta read per list is enough: one message, not one per entry
    assert all(json.loads(m)["resource"] == LIST_ID and "clientState" not in json.loads(m) for m in messages)


def test_a_post_with_many_entries_for_the_list_fans_out_to_one_message(webhook, caplog):
    """A POST of 700 entries, under 256 KB (issue 13, item 6: one made 2,000 queue messages), queues one message, and
    the refused entries are logged as a count beyond the first few, not one record each."""
    caplog.set_level(logging.INFO, logger="guest_onboarding")
    entries = [entry(**({"clientState": "forged-state-value-xxxxxxxx"} if n % 2 else {})) for n in range(700)]
    body = json.dumps({"value": entries}).encode()
    assert len(body) < 256 * 1024
    response, messages = webhook(body)
    assert json.loads(response.get_body()) == {"accepted": 350, "queued": 1, "refused": 350}
    assert len(messages) == 1
    refused_records = [r for r in caplog.records if getattr(r, "event", "") == "sharepoint.notification_refused"]
    assert 1 <= len(refused_records) <= 5


def test_wrong_client_state_and_other_lists_are_refused_and_logged_without_the_secret(webhook, caplog):
    forged = entry(clientState="guessed-" + STATE)
    other = entry(resource=str(uuid.uuid4()))
    with caplog.at_level(logging.WARNING, logger="guest_onboarding"):
        response, messages = webhook(json.dumps({"value": [forged, other, entry()]}).encode())
    assert json.loads(response.get_body()) == {"accepted": 1, "queued": 1, "refused": 2}
    assert len(messages) == 1
    assert caplog.text.count("sharepoint.notification_refused") == 2
    assert STATE not in caplog.text


@pytest.mark.parametrize("body", [
    b"", b"not json", b"[]", b'{"value": []}', b'{"value": {}}', b'{"value": [1]}',
    json.dumps({"value": [{"clientState": STATE}]}).encode(),
    json.dumps({"value": [entry(resource=7)]}).encode(),
    json.dumps({"value": [entry(clientState=["x"])]}).encode(),
    b"\xff\xfe",
])
def test_malformed_notifications_get_a_400_problem_and_queue_nothing(webhook, body):
    response, messages = webhook(body)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    assert json.loads(response.get_body())["errors"]
    assert messages == []


def test_missing_sharepoint_settings_answer_503_naming_them(webhook, monkeypatch):
    monkeypatch.delenv("SHAREPOINT_LIST_ID")
    runtime.reset()
    response, messages = webhook(json.dumps({"value": [entry()]}).encode())
    assert response.status_code == 503 and messages == []
    names = [s["name"] for s in json.loads(response.get_body())["settings"]]
    assert names == ["SHAREPOINT_LIST_ID"]
