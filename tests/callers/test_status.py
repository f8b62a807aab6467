"""An invitation's status resource and the asynchronous request-reply pattern (issue 14 #1, #2), through the local
Functions host (devhost's HTTP front and queue runner on Azurite) with the real worker behind both."""

from __future__ import annotations

import datetime as dt
import json
import time
from urllib.parse import parse_qs, urlsplit

import requests

import devhost
from shared import app_context, status
from shared.problems import MEDIA_TYPE
from simulator.graph.models import FINANCE_GROUP_ID, MEMBER_USER_ID, PARTNERS_GROUP_ID
from tests.callers.conftest import Host

MEMBERS = r"/members/\$ref$"


def logic_app_action(host: Host, app, body: dict, *, max_polls: int = 40) -> tuple[requests.Response, list[int]]:
    """What the Logic Apps HTTP action does with the async pattern: POST, then while 202 GET the Location (a plain
    GET: no header of the action follows), after Retry-After. Simulated time: the wait moves the simulator's clock
    and the queue host runs what became due meanwhile. Returns the final answer and each Retry-After honoured."""
    answer = host.invite(body, respond_async=True)
    waits = []
    for _ in range(max_polls):
        if answer.status_code != 202:
            return answer, waits
        location = answer.headers["Location"]
        assert location.startswith("http://") and "code=" not in location and host.front.key not in location
        waits.append(int(answer.headers["Retry-After"]))
        app.sim.clock.advance(waits[-1])
        host.runner.run_until_empty("add_membership")
        answer = requests.get(location, timeout=30)
    raise AssertionError(f"still 202 after {max_polls} polls")


def test_a_logic_app_waits_until_a_new_guest_is_in_every_group_despite_replication_lag(host, app):
    app.sim.replication_lag = 45
    extra = app.sim.graph.add_group("Extra")["id"]
    final, waits = logic_app_action(host, app, {"email": "nia@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID, extra]})

    assert final.status_code == 200 and final.headers["Content-Type"] == "application/json"
    record = final.json()
    assert record["status"] == "succeeded" and record["invited"] is True and record["source"] == "http"
    assert [(g["groupId"], g["status"]) for g in record["groups"]] == sorted(
        [(PARTNERS_GROUP_ID, "added"), (extra, "added")])
    assert all(record["userId"] in app.sim.graph.members_of(group) for group in (PARTNERS_GROUP_ID, extra))
    assert waits and all(wait >= 5 for wait in waits)  # every Retry-After a number of seconds
    assert host.runner.poisoned_by_host == []
    assert all(i.error_message is None for i in host.runner.invocations)  # the lag was no failed execution


def test_a_logic_app_ends_with_the_reason_of_a_group_that_forbids_guests(host, app):
    final, _ = logic_app_action(host, app, {"email": "nia@fabrikam.com",
                                            "groupIds": [PARTNERS_GROUP_ID, FINANCE_GROUP_ID]})

    assert final.status_code == 200
    record = final.json()
    assert record["status"] == "failed"
    groups = {g["groupId"]: g for g in record["groups"]}
    assert groups[PARTNERS_GROUP_ID]["status"] == "added"
    failed = groups[FINANCE_GROUP_ID]
    assert failed["status"] == "failed" and failed["attempts"] >= 1
    problem = failed["problem"]
    assert problem["status"] == 403 and problem["type"] == "urn:guest-onboarding:problem:graph-refused"
    assert problem["code"] and problem["graphRequestId"] and "not allowed to join" in problem["message"]


def test_the_202_answer_has_the_invitation_body_a_signed_location_and_retry_after(host, app):
    answer = host.invite({"email": "nia@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]}, respond_async=True,
                         request_id="crm-async-1")
    assert answer.status_code == 202
    assert answer.json()["requestId"] == "crm-async-1" and answer.json()["groups"][0]["status"] == "queued"
    assert answer.headers["Preference-Applied"] == "respond-async" and answer.headers["Retry-After"] == "10"
    location = urlsplit(answer.headers["Location"])
    assert location.path == "/api/invitations/crm-async-1/status"
    assert set(parse_qs(location.query)) == {"expires", "sig"}
    expires = int(parse_qs(location.query)["expires"][0])
    assert abs(expires - (time.time() + status.RETENTION_DAYS * 86400)) < 120


def test_without_prefer_the_answer_stays_201_then_200(host, app):
    assert host.invite({"email": "nia@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]}).status_code == 201
    again = host.invite({"email": "nia@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
    assert again.status_code == 200 and "Location" not in again.headers


def test_prefer_without_groups_answers_at_once_as_nothing_is_left_to_wait_for(host, app):
    answer = host.invite({"email": "nia@fabrikam.com"}, respond_async=True)
    assert answer.status_code == 201 and "Location" not in answer.headers


def test_the_keyed_get_answers_202_while_queued_then_200(host, app):
    host.invite({"email": "adele@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]}, request_id="crm-keyed")
    pending = host.get_status("crm-keyed")
    assert pending.status_code == 202 and int(pending.headers["Retry-After"]) >= 5
    assert "/api/invitations/crm-keyed/status?expires=" in pending.headers["Location"]
    assert pending.json()["groups"] == [{"groupId": PARTNERS_GROUP_ID, "status": "queued", "attempts": 0,
                                        "updatedAt": pending.json()["groups"][0]["updatedAt"]}]
    host.runner.run_until_empty("add_membership")
    done = host.get_status("crm-keyed")
    assert done.status_code == 200 and "Location" not in done.headers
    assert done.json()["groups"][0]["status"] == "already_member" or done.json()["groups"][0]["status"] == "added"


def test_the_keyed_get_needs_the_function_key(host, app):
    host.invite({"email": "adele@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]}, request_id="crm-key-needed")
    assert host.get_status("crm-key-needed", key=False).status_code == 401


def test_an_unknown_request_id_is_a_404_problem(host, app):
    for request_id in ("never-seen", "~keys", "a%2Fb"):
        answer = host.get_status(request_id)
        assert answer.status_code == 404, request_id
        assert answer.headers["Content-Type"] == MEDIA_TYPE
        assert answer.json()["type"] == "urn:guest-onboarding:problem:invitation-not-found"


def test_a_tampered_or_expired_or_borrowed_link_is_refused_without_reading_the_record(host, app):
    first = host.invite({"email": "nia@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]}, respond_async=True,
                        request_id="crm-link-1")
    host.invite({"email": "adele@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]}, request_id="crm-link-2")
    link = first.headers["Location"]
    assert requests.get(link, timeout=30).status_code == 202
    query = parse_qs(urlsplit(link).query)
    base = link.split("?")[0]
    tampered = query["sig"][0][:-2] + ("AA" if not query["sig"][0].endswith("AA") else "BB")
    answers = [
        requests.get(f"{base}?expires={query['expires'][0]}&sig={tampered}", timeout=30),
        requests.get(f"{base}?expires={int(query['expires'][0]) + 1}&sig={query['sig'][0]}", timeout=30),
        requests.get(base.replace("crm-link-1", "crm-link-2") + "?" + urlsplit(link).query, timeout=30),
        requests.get(base, timeout=30),
    ]
    for answer in answers:
        assert answer.status_code == 403 and answer.json()["type"].endswith(":status-link-invalid")
        assert "nia@" not in answer.text and "adele@" not in answer.text


def test_an_expired_link_is_refused(host, app):
    from shared.status_api import link_key
    from shared.status_links import status_link

    host.invite({"email": "nia@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]}, request_id="crm-old")
    old = status_link(host.front.base_url, "crm-old", link_key(app_context.current()),
                      now=time.time() - status.RETENTION_DAYS * 86400 - 60)
    assert requests.get(old, timeout=30).status_code == 403


def test_the_link_key_is_shared_by_every_instance_through_the_table(host, app):
    answer = host.invite({"email": "nia@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]}, respond_async=True)
    app.configure(simulated_waits=True)  # a fresh process: no key in memory
    assert requests.get(answer.headers["Location"], timeout=30).status_code == 202


def test_each_group_update_is_its_own_entity_so_concurrent_groups_do_not_clobber(app):
    store = status.store()
    store.accepted("crm-concurrent", email="x@fabrikam.com", user_id=MEMBER_USER_ID, invited=False, source="http",
                   group_ids=[PARTNERS_GROUP_ID, FINANCE_GROUP_ID])
    # two workers finishing different groups at the same moment, each with one merge upsert
    store.group("crm-concurrent", PARTNERS_GROUP_ID, status.ADDED, 1)
    store.group("crm-concurrent", FINANCE_GROUP_ID, status.FAILED, 1, problem={"status": 403, "code": "X"})
    record = store.read("crm-concurrent")
    assert {g.group_id: g.status for g in record.groups} == {PARTNERS_GROUP_ID: "added", FINANCE_GROUP_ID: "failed"}
    assert record.email == "x@fabrikam.com" and record.status == "failed"


def test_a_waiting_group_shows_when_it_is_tried_next_and_why(host, app):
    app.configure()  # real time: the copy stays invisible for the 315 s Graph asked for
    app.sim.faults.add(service="graph", method="POST", path=MEMBERS, status=429, retry_after=315, times=1)
    host.invite({"email": "adele@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]}, request_id="crm-throttled")
    host.runner.run_once("add_membership")
    record = host.get_status("crm-throttled").json()
    (group,) = record["groups"]
    assert group["status"] == "queued" and group["attempts"] == 1 and group["waitingFor"] == "graph-throttled"
    due = dt.datetime.fromisoformat(group["nextAttemptAt"].replace("Z", "+00:00"))
    assert 300 <= (due - dt.datetime.now(dt.UTC)).total_seconds() <= 320
    assert host.runner.peek("group-memberships") == []  # the copy waits, invisible
    assert host.runner.queue("group-memberships").get_queue_properties().approximate_message_count == 1


def test_the_sweep_deletes_records_past_their_retention_and_keeps_the_link_key(app):
    store = status.store()
    store.accepted("crm-sweep", email=None, user_id=MEMBER_USER_ID, invited=False, source="queue",
                   group_ids=[PARTNERS_GROUP_ID])
    key = store.link_key()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=status.RETENTION_DAYS, minutes=1)
    store.sweep(dt.datetime.now(dt.UTC))
    assert store.read("crm-sweep") is not None  # not expired yet
    assert store.sweep(later) >= 2
    assert store.read("crm-sweep") is None and store.link_key() == key


def test_the_timer_sweeps_through_the_worker(host, app):
    called = devhost.worker().timer("sweep_invitation_status")
    assert called.error_message is None


def test_a_status_record_write_failure_answers_503_and_enqueues_nothing(app):
    app.configure(AzureWebJobsStorage="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey="
                  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
                  "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;")
    answer = app.invite({"email": "adele@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
    assert answer.status == 503 and answer.body["type"].endswith(":storage-unavailable")
    assert answer.messages == [] and "Retry-After" in answer.headers


def test_the_poison_and_the_record_agree_on_the_reason(app):
    app.configure(simulated_waits=True)
    answer = app.invite({"email": "adele@fabrikam.com", "groupIds": [FINANCE_GROUP_ID]})
    (message,) = answer.messages
    poison = app.deliver(message)
    record = app.status(answer.body["requestId"])
    (group,) = record.groups
    assert group.status == "failed" and group.problem["code"] == poison["error"]["code"]
    assert group.problem["graphRequestId"] == poison["error"]["graphRequestId"]
    assert json.dumps(record.to_dict())
