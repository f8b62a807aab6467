"""The OpenAPI 2.0 document: valid, committed as generated, served anonymously, and true to the real handler (every
field, type, limit, required list, answer and problem shape, probed at the boundaries)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV2SpecValidator

from shared.openapi import PLACEHOLDER_HOST, openapi_document, openapi_json
from shared.requests_model import INVITATION_FIELDS, LANGUAGE_PATTERN, REQUEST_ID_PATTERN
from simulator.graph.models import FALCON_GROUP_ID, PARTNERS_GROUP_ID, PENDING_GUEST_MAIL

ROOT = Path(__file__).resolve().parents[2]
DOC = openapi_document()
REQUEST = DOC["definitions"]["InvitationRequest"]
OPERATION = DOC["paths"]["/invitations"]["post"]
USERS = r"/v1\.0/users$"


def resolved(schema: Any) -> Any:
    """The schema with its $refs inlined and x-nullable spelled as JSON Schema, for jsonschema."""
    if isinstance(schema, list):
        return [resolved(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return resolved(DOC["definitions"][schema["$ref"].rsplit("/", 1)[1]])
    result = {key: resolved(value) for key, value in schema.items()}
    if result.get("x-nullable"):
        result["type"] = [result["type"], "null"]
    return result


def assert_answer_matches_document(answer) -> None:
    documented = OPERATION["responses"].get(str(answer.status))
    assert documented is not None, f"{answer.status} is not documented"
    jsonschema.Draft4Validator(resolved(documented["schema"])).validate(answer.body)
    for header in documented.get("headers", {}):
        assert header in answer.headers, header


# ---- the document itself ---------------------------------------------------------------------------------
def test_it_is_a_valid_openapi_2_document_under_1_mb():
    validate(copy.deepcopy(DOC), cls=OpenAPIV2SpecValidator)
    assert len(openapi_json().encode("utf-8")) < 1_000_000


def test_the_committed_openapi_json_is_the_generated_one():
    regenerate = "python -c \"from shared.openapi import openapi_json; open('openapi.json','w').write(openapi_json())\""
    assert (ROOT / "openapi.json").read_text(encoding="utf-8") == openapi_json(), regenerate


def test_it_reads_well_in_the_designer():
    assert (OPERATION["operationId"], OPERATION["summary"]) == ("InviteGuest", "Invite a guest")
    assert DOC["securityDefinitions"]["functionKey"] == {**DOC["securityDefinitions"]["functionKey"],
                                                         "type": "apiKey", "in": "header", "name": "x-functions-key"}
    for name, prop in REQUEST["properties"].items():
        assert prop["x-ms-summary"] and prop["x-ms-visibility"] in ("important", "advanced"), name
        assert "items" not in prop or prop["items"]["x-ms-summary"], name
    assert REQUEST["properties"]["email"]["x-ms-visibility"] == "important"


def test_the_request_schema_is_the_field_spec():
    assert REQUEST["additionalProperties"] is False
    assert REQUEST["required"] == [spec.name for spec in INVITATION_FIELDS if spec.required] == ["email"]
    assert list(REQUEST["properties"]) == [spec.name for spec in INVITATION_FIELDS]
    for spec in INVITATION_FIELDS:
        prop = REQUEST["properties"][spec.name]
        expected = {"type": spec.type, "minLength": spec.min_length, "maxLength": spec.max_length,
                    "pattern": spec.pattern, "format": spec.format, "maxItems": spec.max_items,
                    "default": spec.default if spec.default != [] else None}
        assert {key: prop.get(key) for key in expected} == expected, spec.name
        if spec.items is not None:
            assert (prop["items"]["type"], prop["items"].get("pattern"), prop["items"].get("maxLength")) == (
                spec.items.type, spec.items.pattern, spec.items.max_length), spec.name


def test_every_answer_is_documented_with_its_schema():
    assert set(OPERATION["responses"]) == {"200", "201", "202", "400", "403", "413", "415", "422", "429", "502",
                                           "503", "default"}
    assert {"Retry-After"} <= set(OPERATION["responses"]["429"]["headers"]) & set(
        OPERATION["responses"]["503"]["headers"])


# ---- served -----------------------------------------------------------------------------------------------
def test_it_is_served_anonymously_with_the_callers_host(app):
    (binding,) = [b for b in json.loads(_function_json("openapi"))["bindings"] if b["type"] == "httpTrigger"]
    assert (binding["authLevel"], binding["route"], binding["methods"]) == ("ANONYMOUS", "openapi.json", ["GET"])
    response = app.get_openapi("contoso-guests.azurewebsites.net")
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    assert json.loads(response.get_body()) == openapi_document("contoso-guests.azurewebsites.net")


@pytest.mark.parametrize("host", [None, "", "evil.example/path", "a b", "x\"y"])
def test_an_odd_host_header_gives_the_placeholder(app, host):
    assert json.loads(app.get_openapi(host).get_body())["host"] == PLACEHOLDER_HOST


def _function_json(name: str) -> str:
    """The binding JSON the host indexes, read in a fresh process (get_functions may run only once per app)."""
    script = ("import json, sys; from function_app import app; "
              "print(next(f.get_function_json() for f in app.get_functions() if f.get_function_name() == sys.argv[1]))")
    result = subprocess.run([sys.executable, "-c", script, name], cwd=ROOT, capture_output=True, text=True,  # noqa: S603
                            check=True)
    return result.stdout


# ---- the real handler at the documented boundaries --------------------------------------------------------
def email_of_length(length: int) -> str:
    """A syntactically valid address of exactly ``length`` characters (64-character local part, labels ≤ 63)."""
    if length < 12:
        return ("a@bc" * 3)[:length]
    local = "a" * min(64, length - 10)
    labels, remaining = [], length - len(local) - 1 - len("example")
    while remaining > 0:  # each label takes its size plus the dot after it
        size = min(63, remaining - 1)
        if remaining - (size + 1) == 1:
            size -= 1
        labels.append("b" * size)
        remaining -= size + 1
    return f"{local}@{''.join(label + '.' for label in labels)}example"


def string_of_length(prop: dict[str, Any], length: int) -> str:
    if prop.get("format") == "email":
        return email_of_length(length)
    if prop.get("format") == "uri":
        return "https://example.com/" + "a" * (length - len("https://example.com/"))
    if prop.get("pattern") == LANGUAGE_PATTERN:
        return ("en" + "-abcdefgh" * 4)[:length]
    if prop.get("pattern") == REQUEST_ID_PATTERN:
        return "r" * length
    if prop.get("format") == "date-time":  # the longest form: microseconds and a numeric zone (32 characters)
        return ("2099-01-01T00:00:00.000000+00:00" + "0" * length)[:length]
    assert "pattern" not in prop and "format" not in prop, f"no value builder for {prop}"
    return "A" * length


def fields_named(answer) -> set[str]:
    return {error["field"] for error in answer.body.get("errors", [])} if answer.status == 400 else set()


def length_probes() -> list[tuple[str, int, bool]]:
    """(field, length, accepted) at each documented maxLength/minLength, derived from the document."""
    probes = []
    for name, prop in REQUEST["properties"].items():
        if name == "sponsors":  # a sponsor must be a real user and SPONSORS_ENABLED set: tests/lifecycle probe it
            continue
        target = prop["items"] if prop["type"] == "array" else prop
        if "maxLength" in target:
            probes += [(name, target["maxLength"], True), (name, target["maxLength"] + 1, False)]
        if "minLength" in target:
            probes.append((name, target["minLength"] - 1, False))
    return probes


@pytest.mark.parametrize(("name", "length", "accepted"), length_probes())
def test_the_handler_enforces_each_documented_length(app, name, length, accepted):
    prop = REQUEST["properties"][name]
    if prop["type"] == "array":
        value, field = [string_of_length(prop["items"], length)], f"{name}[0]"
    else:
        value, field = string_of_length(prop, length), name
    assert len(value[0] if isinstance(value, list) else value) == length
    if prop.get("format") == "uri":
        app.configure(ALLOWED_REDIRECT_HOSTS="example.com")  # the probe's host: the length is what is probed
    body = {"email": "boundary@fabrikam.com", "sendInvitationMessage": False, name: value}
    answer = app.invite(body)
    assert (answer.status == 201) is accepted and (field in fields_named(answer)) is not accepted, answer.body
    assert_answer_matches_document(answer)


@pytest.mark.parametrize("name", [name for name, prop in REQUEST["properties"].items() if "maxItems" in prop])
def test_the_handler_enforces_each_documented_item_count(app, name):
    prop = REQUEST["properties"][name]
    if name == "sponsors":  # opt-in: the setting, its permission, and real internal users to name
        app.sim.identity.grant(app.sim.identity.default_app.client_id, "User.ReadWrite.All")
        app.configure(SPONSORS_ENABLED="true")
    def items(count: int) -> list[str]:
        if name == "sponsors":
            return [app.sim.graph.add_user(f"sponsor{index}@{app.sim.tenant_domain}")["id"] for index in range(count)]
        if prop["items"].get("format") == "uuid":
            return [str(uuid.uuid4()) for _ in range(count)]
        return [f"cc{index}@fabrikam.com" for index in range(count)]
    at_limit = app.invite({"email": "items@fabrikam.com", "sendInvitationMessage": False,
                           name: items(prop["maxItems"])})
    over = app.invite({"email": "items@fabrikam.com", name: items(prop["maxItems"] + 1)})
    assert name not in fields_named(at_limit) and at_limit.status in (200, 201)
    assert name in fields_named(over)


WRONG_TYPE = {"string": 12345, "boolean": "yes", "array": "not an array", "integer": "7"}


def test_every_documented_type_pattern_required_and_unknown_rule_is_enforced_at_once(app):
    body: dict[str, Any] = {name: WRONG_TYPE[prop["type"]] for name, prop in REQUEST["properties"].items()
                            if name != "email"}
    body["groupID"] = PARTNERS_GROUP_ID  # additionalProperties: false
    answer = app.invite(body)
    named = fields_named(answer)
    assert named == set(REQUEST["properties"]) | {"groupID"}  # email: required; the rest: wrong type
    assert app.sim.stats.count(service="graph") == 0
    patterns = {"messageLanguage": "e", "requestId": "has space", "groupIds": ["not-a-guid"]}
    assert {n for n, p in REQUEST["properties"].items() if "pattern" in p or "pattern" in p.get("items", {})} == set(
        patterns)
    answer = app.invite({"email": "pat@fabrikam.com", **patterns})
    assert fields_named(answer) == {"messageLanguage", "requestId", "groupIds[0]"}
    assert_answer_matches_document(answer)


def test_documented_defaults_hold(app):
    assert REQUEST["properties"]["sendInvitationMessage"]["default"] is True
    answer = app.invite({"email": "default@fabrikam.com"})
    assert answer.status == 201 and app.sim.graph.emails_to("default@fabrikam.com") == 1


# ---- every documented answer, produced by the real handler, matches its schema ------------------------------
def test_success_answers_match_the_result_schema(app):
    created = app.invite({"email": "new@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
    existing = app.invite({"email": PENDING_GUEST_MAIL, "groupIds": [PARTNERS_GROUP_ID]})
    accepted = app.invite({"email": PENDING_GUEST_MAIL, "groupIds": [PARTNERS_GROUP_ID]},
                          headers={"Prefer": "respond-async"})
    assert (created.status, existing.status, accepted.status) == (201, 200, 202)
    assert_answer_matches_document(created)
    assert_answer_matches_document(existing)
    assert_answer_matches_document(accepted)


def test_the_status_answers_match_the_status_schema(app):
    status_op = DOC["paths"]["/invitations/{requestId}"]["get"]
    app.configure(simulated_waits=True)
    created = app.invite({"email": "new@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID, FALCON_GROUP_ID]})
    request_id = created.body["requestId"]

    def get(request_id: str):
        called = app.host.http("invitation_status", "GET", f"https://x/api/invitations/{request_id}",
                               route_params={"requestId": request_id})
        called.raise_error()
        return called.response

    answers = {202: get(request_id)}
    for message in created.messages:
        app.deliver_until_settled(message)
    answers[200] = get(request_id)
    answers[404] = get("nope")
    assert {status: response.status_code for status, response in answers.items()} == {202: 202, 200: 200, 404: 404}
    for status, response in answers.items():
        documented = status_op["responses"][str(status)]
        jsonschema.Draft4Validator(resolved(documented["schema"])).validate(json.loads(response.get_body()))
        for header in documented.get("headers", {}):
            assert header in response.headers, (status, header)


PROBLEMS = {
    400: lambda app: app.invite({"email": "nope"}),
    403: lambda app: app.configure(ALLOWED_GROUP_IDS=FALCON_GROUP_ID).invite(
        {"email": "a@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]}),
    413: lambda app: app.invite(None, raw=json.dumps({"email": "a@fabrikam.com", "message": "x" * 70000}).encode()),
    415: lambda app: app.invite(None, raw=b"email=a@fabrikam.com", headers={"Content-Type": "text/plain"}),
    422: lambda app: app.invite({"email": "someone@contoso.com"}),
    429: lambda app: (app.sim.faults.add(service="graph", method="GET", path=USERS, status=429, retry_after=120),
                      app.invite({"email": "a@fabrikam.com"}))[1],
    502: lambda app: (app.sim.identity.revoke(app.sim.identity.default_app.client_id, "User.Invite.All"),
                      app.invite({"email": "a@fabrikam.com"}))[1],
    503: lambda app: (app.configure(simulated_waits=True),
                      app.sim.faults.add(service="graph", method="GET", path=USERS, status=503),
                      app.invite({"email": "a@fabrikam.com"}))[2],
}


@pytest.mark.parametrize("status", sorted(PROBLEMS))
def test_each_documented_problem_is_what_the_handler_answers(app, status):
    answer = PROBLEMS[status](app)
    assert answer.status == status
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert_answer_matches_document(answer)


def test_every_documented_problem_status_has_a_probe():
    assert {int(status) for status in OPERATION["responses"] if status not in ("200", "201", "202", "default")} == set(
        PROBLEMS)


# ---- ready to certify (issue 16): contact, connector metadata, Title Case labels, apiProperties.json ------------
# The categories certification accepts (learn.microsoft.com/connectors/custom-connectors/certification-submission).
CATEGORIES = {"AI", "Business Management", "Business Intelligence", "Collaboration", "Commerce", "Communication",
              "Content and Files", "Finance", "Data", "Human Resources", "Internet of Things", "IT Operations",
              "Lifestyle and Entertainment", "Marketing", "Productivity", "Sales and CRM", "Security",
              "Social Media", "Website"}
SMALL_WORDS = {"a", "an", "the", "and", "or", "to", "of", "for", "in", "on", "at", "by"}


def summaries(node: Any) -> list[str]:
    if isinstance(node, list):
        return [text for item in node for text in summaries(item)]
    if not isinstance(node, dict):
        return []
    own = [node["x-ms-summary"]] if isinstance(node.get("x-ms-summary"), str) else []
    return own + [text for value in node.values() for text in summaries(value)]


def is_title_case(label: str) -> bool:
    words = label.split()
    return all(word.lstrip("(")[0].isupper() or (index > 0 and word in SMALL_WORDS)
               for index, word in enumerate(words))


def test_is_title_case_tells_title_case_from_sentence_case():
    assert is_title_case("Resend to a Guest Who Has Not Redeemed") and is_title_case("Size Limit (Bytes)")
    assert not is_title_case("Email address") and not is_title_case("the Email")


def test_every_designer_label_is_title_case():
    labels = summaries(DOC)
    assert len(labels) > 20
    assert [label for label in labels if not is_title_case(label)] == []


def test_the_definition_carries_contact_and_connector_metadata():
    contact = DOC["info"]["contact"]
    assert contact["name"] and contact["url"].startswith("https://") and "@" in contact["email"]
    metadata = {item["propertyName"]: item["propertyValue"] for item in DOC["x-ms-connector-metadata"]}
    assert set(metadata) == {"Website", "Privacy policy", "Categories"}
    assert metadata["Website"].startswith("https://") and metadata["Privacy policy"].startswith("https://")
    assert set(metadata["Categories"].split(";")) <= CATEGORIES


API_PROPERTIES_SCHEMA = {  # apiProperties.json as certified connectors carry it (paconn's file layout)
    "type": "object", "required": ["properties"], "additionalProperties": False,
    "properties": {"properties": {
        "type": "object", "additionalProperties": False,
        "required": ["connectionParameters", "iconBrandColor", "capabilities", "publisher", "stackOwner"],
        "properties": {
            "connectionParameters": {"type": "object", "minProperties": 1, "additionalProperties": {
                "type": "object", "required": ["type", "uiDefinition"],
                "properties": {"type": {"enum": ["string", "securestring", "oauthSetting", "int", "bool"]},
                               "uiDefinition": {"type": "object", "required": ["displayName", "description",
                                                                               "constraints"]}}}},
            "iconBrandColor": {"type": "string", "pattern": "^#[0-9A-Fa-f]{6}$"},
            "capabilities": {"type": "array", "items": {"type": "string"}},
            "publisher": {"type": "string", "minLength": 1},
            "stackOwner": {"type": "string", "minLength": 1},
            "policyTemplateInstances": {"type": "array"},
        }}},
}


def test_the_committed_api_properties_json_is_the_generated_one_and_well_formed():
    from shared.openapi import api_properties_json
    text = (ROOT / "apiProperties.json").read_text(encoding="utf-8")
    assert text == api_properties_json(), "regenerate apiProperties.json (docs/logic-apps.md)"
    properties = json.loads(text)
    jsonschema.Draft7Validator(API_PROPERTIES_SCHEMA).validate(properties)
    assert properties["properties"]["iconBrandColor"].lower() not in ("#ffffff", "#007ee5")  # refused colours


def test_the_connection_asks_for_exactly_the_key_the_document_declares():
    from shared.openapi import api_properties
    (parameter,) = api_properties()["properties"]["connectionParameters"].values()
    assert parameter["type"] == "securestring"  # never shown in clear text, as a function key must not be
    assert parameter["uiDefinition"]["constraints"]["clearText"] is False
    (scheme,) = DOC["securityDefinitions"].values()
    assert scheme["type"] == "apiKey" and scheme["name"] in parameter["uiDefinition"]["tooltip"]
