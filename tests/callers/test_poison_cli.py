"""`python cli.py poison list|requeue` against a real Azurite: reasons are readable, requeue loses nothing."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.storage.queue import QueueClient, QueueServiceClient

from guest_cli import main
from shared import poison
from tests.conftest import AZURITE_PORTS

pytestmark = pytest.mark.azurite
ROOT = Path(__file__).resolve().parents[2]

MEMBERSHIP = {"userId": "5b1c6e0f-1c2d-4e5f-8a9b-0c1d2e3f4a5b", "groupId": "0f8fad5b-d9cb-469f-a165-70867728950e"}
DENIED = {"status": 403, "code": "Authorization_RequestDenied",
          "message": "Insufficient privileges to complete the operation.", "graphRequestId": "b1d2c3e4"}


def envelope(message: object, error: dict = DENIED, attempts: int = 1, hours_ago: int = 2) -> str:
    failed_at = (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat().replace("+00:00", "Z")
    return json.dumps({"message": message, "error": error, "attempts": attempts, "failedAt": failed_at})


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def queues(azurite: str) -> tuple[QueueServiceClient, str, str]:
    """A fresh main queue and its poison queue, with names no other test uses."""
    service = QueueServiceClient.from_connection_string(azurite)
    main_name = f"t{uuid.uuid4().hex[:16]}-memberships"
    service.create_queue(main_name)
    service.create_queue(main_name + "-poison")
    yield service, main_name, main_name + "-poison"
    for name in (main_name, main_name + "-poison"):
        service.delete_queue(name)


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def contents(service: QueueServiceClient, name: str) -> list[str]:
    return [message.content for message in service.get_queue_client(name).peek_messages(max_messages=32)]


def test_list_shows_reason_attempts_and_age_of_every_kind_of_poison_message(queues, azurite, capsys):
    service, _, poison_name = queues
    client = service.get_queue_client(poison_name)
    app_plain = client.send_message(envelope(MEMBERSHIP, attempts=4)).id
    app_base64 = client.send_message(b64(envelope(MEMBERSHIP, hours_ago=30))).id
    host_plain = client.send_message(json.dumps(MEMBERSHIP)).id
    host_base64 = client.send_message(b64(json.dumps(MEMBERSHIP))).id

    code, out, _ = run(capsys, "poison", "list", poison_name, "--connection-string", azurite, "--json")

    assert code == 0
    listing = json.loads(out)
    by_id = {item["id"]: item for item in listing["messages"]}
    assert set(by_id) == {app_plain, app_base64, host_plain, host_base64}
    assert by_id[app_plain]["reason"] == ("403 Authorization_RequestDenied: "
                                          "Insufficient privileges to complete the operation.")
    assert by_id[app_plain]["attempts"] == 4 and by_id[app_plain]["ageSeconds"] >= 2 * 3600
    assert by_id[app_plain]["error"]["graphRequestId"] == "b1d2c3e4"
    assert by_id[app_base64]["encoding"] == "base64" and by_id[app_base64]["ageSeconds"] >= 30 * 3600
    for host_moved in (host_plain, host_base64):
        assert by_id[host_moved]["movedBy"] == "host" and by_id[host_moved]["attempts"] is None
        assert "no reason recorded" in by_id[host_moved]["reason"]
    assert all(item["message"] == MEMBERSHIP for item in listing["messages"])


def test_list_as_a_table_names_the_reason_and_the_age(queues, azurite, capsys):
    service, _, poison_name = queues
    message_id = service.get_queue_client(poison_name).send_message(envelope(MEMBERSHIP, hours_ago=3)).id

    code, out, _ = run(capsys, "poison", "list", poison_name, "--connection-string", azurite)

    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith(message_id))
    assert "Authorization_RequestDenied" in row and " 3h0m " in row


def test_list_leaves_the_messages_where_they_are(queues, azurite, capsys):
    service, _, poison_name = queues
    service.get_queue_client(poison_name).send_message(envelope(MEMBERSHIP))

    run(capsys, "poison", "list", poison_name, "--connection-string", azurite)

    assert [message.dequeue_count for message in service.get_queue_client(poison_name).peek_messages(5)] == [0]


def test_list_of_a_poison_queue_that_does_not_exist_yet_is_empty(azurite, capsys):
    never = f"t{uuid.uuid4().hex[:12]}-never-poison"
    code, out, _ = run(capsys, "poison", "list", never, "--connection-string", azurite)
    assert code == 0 and "does not exist yet" in out


def test_requeue_by_id_puts_the_original_back_as_plain_json_and_removes_only_that_one(queues, azurite, capsys):
    service, main_name, poison_name = queues
    client = service.get_queue_client(poison_name)
    chosen = client.send_message(b64(envelope(MEMBERSHIP))).id
    other = client.send_message(envelope({"userId": "x", "groupId": "y"})).id

    code, out, _ = run(capsys, "poison", "requeue", poison_name, "--id", chosen, "--connection-string", azurite)

    assert code == 0 and f"requeued {chosen}" in out
    assert [json.loads(text) for text in contents(service, main_name)] == [MEMBERSHIP]
    assert [message.id for message in client.peek_messages(32)] == [other]  # released at once, not hidden


def test_requeue_all_takes_every_message_and_decodes_base64_originals(queues, azurite, capsys):
    service, main_name, poison_name = queues
    client = service.get_queue_client(poison_name)
    for body in (envelope(MEMBERSHIP), b64(json.dumps(MEMBERSHIP)), json.dumps(MEMBERSHIP), b64(envelope(MEMBERSHIP))):
        client.send_message(body)

    code, out, _ = run(capsys, "poison", "requeue", poison_name, "--all", "--connection-string", azurite, "--json")

    assert code == 0 and len(json.loads(out)["requeued"]) == 4
    requeued = contents(service, main_name)
    assert [json.loads(text) for text in requeued] == [MEMBERSHIP] * 4  # plain JSON text, not base64
    assert client.get_queue_properties().approximate_message_count == 0


def test_requeue_accepts_the_main_queue_name(queues, azurite, capsys):
    service, main_name, poison_name = queues
    service.get_queue_client(poison_name).send_message(envelope(MEMBERSHIP))

    code, _, _ = run(capsys, "poison", "requeue", main_name, "--all", "--connection-string", azurite)

    assert code == 0 and len(contents(service, main_name)) == 1 and contents(service, poison_name) == []


def test_requeue_of_an_unknown_id_changes_nothing_and_exits_1(queues, azurite, capsys):
    service, main_name, poison_name = queues
    kept = service.get_queue_client(poison_name).send_message(envelope(MEMBERSHIP)).id

    code, _, err = run(capsys, "poison", "requeue", poison_name, "--id", "no-such-id", "--connection-string", azurite)

    assert code == 1 and "no-such-id" in err
    assert contents(service, main_name) == []
    assert [message.id for message in service.get_queue_client(poison_name).peek_messages(32)] == [kept]


def test_requeue_without_a_main_queue_fails_and_keeps_the_poison_message(azurite, capsys):
    service = QueueServiceClient.from_connection_string(azurite)
    poison_name = f"t{uuid.uuid4().hex[:12]}-orphan-poison"
    service.create_queue(poison_name)
    try:
        service.get_queue_client(poison_name).send_message(envelope(MEMBERSHIP))
        code, _, err = run(capsys, "poison", "requeue", poison_name, "--all", "--connection-string", azurite)
        assert code == 3 and "does not exist" in err
        assert len(contents(service, poison_name)) == 1
    finally:
        service.delete_queue(poison_name)


def test_messages_that_arrive_during_a_requeue_are_not_taken_again(queues, azurite):
    service, main_name, poison_name = queues
    client = service.get_queue_client(poison_name)
    client.send_message(envelope(MEMBERSHIP))
    before_it_arrived = datetime.now(UTC) - timedelta(hours=1)

    result = poison.requeue(client, service.get_queue_client(main_name), None, started_at=before_it_arrived)

    assert result.requeued == [] and contents(service, main_name) == []
    assert len(contents(service, poison_name)) == 1  # passed over and visible again


def test_a_wrong_account_key_is_a_remote_failure_without_echoing_the_key(queues, azurite, capsys):
    _, _, poison_name = queues
    wrong_key = base64.b64encode(b"not the key" * 6).decode()
    bad = azurite.replace(azurite.split("AccountKey=")[1].split(";")[0], wrong_key)

    code, _, err = run(capsys, "poison", "list", poison_name, "--connection-string", bad)

    assert code == 3 and wrong_key not in err


@pytest.mark.parametrize("argv", [[], ["poison"], ["poison", "requeue", "q-poison"],
                                  ["poison", "requeue", "q-poison", "--id", "a", "--all"]])
def test_incomplete_commands_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2


def test_missing_connection_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.delenv("AzureWebJobsStorage", raising=False)
    code, _, err = run(capsys, "poison", "list", "group-memberships-poison")
    assert code == 2 and "AzureWebJobsStorage" in err


def test_cli_py_runs_as_a_script_with_the_connection_from_the_environment(queues, azurite):
    service, _, poison_name = queues
    message_id = service.get_queue_client(poison_name).send_message(envelope(MEMBERSHIP)).id
    env = {**os.environ, "AzureWebJobsStorage": azurite}

    listed = subprocess.run([sys.executable, "cli.py", "poison", "list", poison_name, "--json"],  # noqa: S603
                            cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    helped = [subprocess.run([sys.executable, "cli.py", *argv, "--help"], cwd=ROOT,  # noqa: S603
                             capture_output=True, text=True, check=False)
              for argv in ([], ["poison"], ["poison", "list"], ["poison", "requeue"])]

    assert listed.returncode == 0, listed.stderr
    assert [item["id"] for item in json.loads(listed.stdout)["messages"]] == [message_id]
    assert all(result.returncode == 0 and "usage: python cli.py" in result.stdout for result in helped)


class StealingQueueClient(QueueClient):
    """A main queue whose send lets another operator take the poison message first (its lease having run out), so
    our delete comes too late: the crash-between-send-and-delete case, through the real service."""

    def __init__(self, *args, poison_client: QueueClient, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.poison_client = poison_client
        self.stolen: list[str] = []

    def send_message(self, *args, **kwargs):
        sent = super().send_message(*args, **kwargs)
        for _ in range(100):  # the lease is 1 s: wait until the message is visible again, then take it
            taken = list(self.poison_client.receive_messages(max_messages=1, visibility_timeout=60))
            if taken:
                self.stolen.append(taken[0].id)
                return sent
            time.sleep(0.05)
        raise AssertionError("the poison message never became visible again")


def test_a_message_taken_by_someone_else_before_the_delete_is_reported_as_a_duplicate(queues, azurite):
    service, main_name, poison_name = queues
    poison_client = service.get_queue_client(poison_name)
    message_id = poison_client.send_message(envelope(MEMBERSHIP)).id
    main_client = StealingQueueClient.from_connection_string(azurite, main_name, poison_client=poison_client)

    result = poison.requeue(poison_client, main_client, None, lease_seconds=1)

    assert main_client.stolen == [message_id]
    assert (result.requeued, result.duplicated) == ([], [message_id])  # reported, not hidden
    assert [json.loads(text) for text in contents(service, main_name)] == [MEMBERSHIP]
    assert poison_client.get_queue_properties().approximate_message_count == 1  # still there: nothing lost


def test_list_says_when_the_queue_holds_more_than_one_peek_shows(queues, azurite, capsys):
    service, _, poison_name = queues
    client = service.get_queue_client(poison_name)
    for _ in range(poison.PEEK_LIMIT + 3):
        client.send_message(envelope(MEMBERSHIP))

    code, out, _ = run(capsys, "poison", "list", poison_name, "--connection-string", azurite)

    rows = [line for line in out.splitlines() if "Authorization_RequestDenied" in line]
    assert code == 0 and len(rows) == poison.PEEK_LIMIT
    assert f"showing {poison.PEEK_LIMIT} of about {poison.PEEK_LIMIT + 3}" in out


@pytest.mark.skipif(AZURITE_PORTS["queue"] != 10001,
                    reason="UseDevelopmentStorage=true means Azurite's default ports; AZURITE_PORT_BASE moved them")
def test_use_development_storage_reaches_azurite(queues, monkeypatch, capsys):
    if AZURITE_PORTS["queue"] != 10001:
        # UseDevelopmentStorage=true means Azurite's fixed ports; AZURITE_PORT_BASE moved the test's Azurite elsewhere.
        pytest.skip("UseDevelopmentStorage=true needs Azurite on 10000-10002 (AZURITE_PORT_BASE is set)")
    service, _, poison_name = queues
    message_id = service.get_queue_client(poison_name).send_message(envelope(MEMBERSHIP)).id
    monkeypatch.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true")

    code, out, _ = run(capsys, "poison", "list", poison_name, "--json")

    assert code == 0 and [item["id"] for item in json.loads(out)["messages"]] == [message_id]


def test_identity_based_storage_settings_reach_the_account_url_without_a_key(monkeypatch):
    # The deployment turns shared keys off: only AzureWebJobsStorage__* exists, and the CLI must use it.
    from guest_cli import poison as poison_cli

    monkeypatch.delenv("AzureWebJobsStorage", raising=False)
    monkeypatch.setenv("AzureWebJobsStorage__accountName", "stguestonboarding")
    monkeypatch.setenv("AzureWebJobsStorage__credential", "managedidentity")
    service = poison_cli._service(type("Args", (), {"connection_string": None})())
    assert service is not None
    assert service.url.startswith("https://stguestonboarding.queue.core.windows.net")
    assert service.credential is not None  # a token credential, not an account key


def test_a_malformed_identity_based_setting_is_named(monkeypatch, capsys):
    monkeypatch.delenv("AzureWebJobsStorage", raising=False)
    monkeypatch.setenv("AzureWebJobsStorage__accountName", "stguestonboarding")
    monkeypatch.setenv("AzureWebJobsStorage__credential", "sharedkey")
    assert main(["poison", "list", "group-memberships-poison"]) == 2
    assert "AzureWebJobsStorage__credential" in capsys.readouterr().err


# ---- hostile poison messages (issue 13, item 6): deep nesting, control characters ------------------------------
DEEP = 5000


@pytest.mark.parametrize("body", [
    envelope({"userId": "x", "nested": json.loads("[" * 900 + "]" * 900)}),  # parses; too deep to print
    envelope("[" * DEEP + "]" * DEEP),
    "[" * DEEP + "]" * DEEP,  # host-moved, not the app's envelope
    json.dumps({"message": {}, "attempts": 1, "failedAt": "2026-01-01T00:00:00Z",
                "error": {"message": json.loads("[" * 900 + "]" * 900)}}),
], ids=["deep message", "deep string", "deep host-moved", "deep error"])
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_poison_list_survives_deeply_nested_json(queues, azurite, capsys, body, as_json):
    service, _, poison_name = queues
    service.get_queue_client(poison_name).send_message(body)
    code, out, _ = run(capsys, "poison", "list", poison_name, "--connection-string", azurite,
                       *(["--json"] if as_json else []))
    assert code == 0
    if as_json:
        assert json.loads(out)["messages"]


def test_poison_list_prints_control_characters_escaped(queues, azurite, capsys):
    service, _, poison_name = queues
    hostile = "a\x1b[2Jb\rc\u2028d\u0085e\u202ef\x07"
    error = {**DENIED, "code": hostile, "message": hostile}
    service.get_queue_client(poison_name).send_message(envelope({**MEMBERSHIP, "note": hostile}, error))
    for argv in (("poison", "list", poison_name, "--connection-string", azurite),
                 ("poison", "list", poison_name, "--connection-string", azurite, "--json")):
        code, out, _ = run(capsys, *argv)
        assert code == 0
        assert not any(ch in out for ch in "\x1b\r\u2028\u0085\u202e\x07"), argv
        assert "\\u001b" in out or "\\x1b" in out
