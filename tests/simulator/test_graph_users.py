"""GET /v1.0/users: $filter (the subset Graph takes without advanced query), $select, $top, paging; users/{id}."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from simulator.graph.models import ACCEPTED_GUEST_ID, MEMBER_USER_ID, PENDING_GUEST_ID, PENDING_GUEST_MAIL
from tests.simulator.graph_session import error_of, graph_as

LOOKUP = ("userPrincipalName eq '{0}' or mail eq '{0}' or proxyAddresses/any(x:x eq 'SMTP:{0}') "
          "or otherMails/any(x:x eq '{0}')")


def ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [user["id"] for user in response.json()["value"]]


@pytest.mark.parametrize("clause", [
    "mail eq 'ADELE@fabrikam.com'",
    "otherMails/any(x:x eq 'adele@FABRIKAM.com')",
    "proxyAddresses/any(p:p eq 'smtp:adele@fabrikam.com')",
    "userPrincipalName eq 'adele_fabrikam.com#EXT#@contoso.onmicrosoft.com'",
    LOOKUP.format("adele@fabrikam.com"),
    "(mail eq 'nobody@x.example' or mail eq 'adele@fabrikam.com') and userType eq 'Guest'",
])
def test_filter_finds_the_guest_case_insensitively(sim, clause):
    assert ids(graph_as(sim).get("/users", params={"$filter": clause})) == [PENDING_GUEST_ID]


def test_filter_literal_with_doubled_quote(sim):
    sim.graph.add_user("o'brien@fabrikam.example", user_type="Guest")
    response = graph_as(sim).get("/users", params={"$filter": "mail eq 'o''brien@fabrikam.example'"})
    assert len(ids(response)) == 1


def test_upn_with_encoded_hash_in_url(sim):
    graph = graph_as(sim)
    clause = quote("userPrincipalName eq 'adele_fabrikam.com#EXT#@contoso.onmicrosoft.com'", safe="")
    assert ids(graph.session.get(f"{graph.base}/users?$filter={clause}", verify=graph.verify, timeout=10)) == [
        PENDING_GUEST_ID]


@pytest.mark.parametrize("clause", ["mail eq adele@fabrikam.com", "mail eq 'x", "mail = 'x'", "nosuch eq 'x'",
                                    "otherMails eq 'x'", "mail eq 'x' or", "(mail eq 'x'"])
def test_unparseable_filter_is_400_invalid_filter_clause(sim, clause):
    response = graph_as(sim).get("/users", params={"$filter": clause})
    assert error_of(response) == (400, "BadRequest", "Invalid filter clause")


ENDSWITH_REFUSED = ("Operator 'endsWith' is not supported because the required parameters might be missing. Try adding "
                    "$count=true query parameter and ConsistencyLevel:eventual header. Refer to "
                    "https://aka.ms/graph-docs/advanced-queries for more information")


@pytest.mark.parametrize(("clause", "message"), [
    ("endswith(mail,'@fabrikam.com')", ENDSWITH_REFUSED),  # the answer aad-advanced-queries.md shows
    ("mail ne 'x@y.example'", "Unsupported or invalid query filter clause specified for property 'mail' of resource "
                              "'User'."),
    ("not(mail eq 'x@y.example')", "Unsupported or invalid query filter clause specified for property 'not' of "
                                   "resource 'User'."),
])
def test_advanced_operators_need_eventual_consistency_and_count(sim, clause, message):
    graph = graph_as(sim)
    response = graph.get("/users", params={"$filter": clause})
    assert error_of(response) == (400, "Request_UnsupportedQuery", message)
    assert error_of(graph.get("/users", params={"$filter": clause, "$count": "true"}))[:2] == (
        400, "Request_UnsupportedQuery")  # $count without the header is not enough
    advanced = graph.get("/users", params={"$filter": clause, "$count": "true"},
                         headers={"ConsistencyLevel": "eventual"})
    assert advanced.status_code == 200 and "@odata.count" in advanced.json()


def test_endswith_with_advanced_query_filters(sim):
    response = graph_as(sim).get("/users", params={"$filter": "endswith(mail,'@fabrikam.com')", "$count": "true"},
                                 headers={"ConsistencyLevel": "eventual"})
    assert ids(response) == [PENDING_GUEST_ID] and response.json()["@odata.count"] == 1


def test_search_needs_eventual_consistency(sim):
    graph = graph_as(sim)
    assert error_of(graph.get("/users", params={"$search": '"displayName:Adele"'}))[:2] == (
        400, "Request_UnsupportedQuery")
    found = graph.get("/users", params={"$search": '"displayName:Adele"'}, headers={"ConsistencyLevel": "eventual"})
    assert ids(found) == [PENDING_GUEST_ID]


@pytest.mark.parametrize("params", [{"$count": "true"},
                                    {"$count": "true", "$filter": f"mail eq '{PENDING_GUEST_MAIL}'"},
                                    {"$count": "true", "$filter": f"otherMails/any(x:x eq '{PENDING_GUEST_MAIL}')"}])
def test_count_without_consistency_level_is_ignored_not_refused(sim, params):
    # aad-advanced-queries.md: "the @odata.count parameter is missing even if the query is successful".
    response = graph_as(sim).get("/users", params=params)
    assert response.status_code == 200 and "@odata.count" not in response.json()
    if "$filter" in params:
        assert ids(response) == [PENDING_GUEST_ID]
    counted = graph_as(sim).get("/users", params=params, headers={"ConsistencyLevel": "eventual"})
    assert counted.json()["@odata.count"] == len(counted.json()["value"])


def test_default_properties_leave_out_other_mails_until_selected(sim):
    graph = graph_as(sim)
    user = graph.get(f"/users/{PENDING_GUEST_ID}").json()
    assert "otherMails" not in user and user["mail"] == "adele@fabrikam.com"
    assert {"id", "displayName", "mail", "userPrincipalName", "businessPhones"} <= set(user)
    selected = graph.get("/users", params={"$select": "id,mail,otherMails", "$filter": "mail eq 'adele@fabrikam.com'"})
    assert selected.json()["value"] == [{"id": PENDING_GUEST_ID, "mail": "adele@fabrikam.com",
                                         "otherMails": ["adele@fabrikam.com"]}]
    assert selected.json()["@odata.context"].endswith("/v1.0/$metadata#users(id,mail,otherMails)")


def test_unknown_select_property_is_400(sim):
    response = graph_as(sim).get("/users", params={"$select": "id,shoeSize"})
    assert error_of(response) == (400, "Request_BadRequest",
                                  "Could not find a property named 'shoeSize' on type 'microsoft.graph.user'.")


def test_paging_with_top_and_absolute_next_link(sim):
    for i in range(4):
        sim.graph.add_user(f"p{i}@fabrikam.example", user_type="Guest")
    graph = graph_as(sim)
    response = graph.get("/users", params={"$top": "3", "$select": "id"})
    seen, pages = ids(response), 1
    while "@odata.nextLink" in response.json():
        link = response.json()["@odata.nextLink"]
        assert link.startswith(sim.graph_endpoint + "/v1.0/users?")
        response = graph.session.get(link, verify=graph.verify, timeout=10)
        seen, pages = seen + ids(response), pages + 1
    assert pages == 3 and len(seen) == len(set(seen)) == 7


@pytest.mark.parametrize("top", ["0", "1000", "abc"])
def test_out_of_range_top_is_400(sim, top):
    assert error_of(graph_as(sim).get("/users", params={"$top": top}))[:2] == (400, "Request_BadRequest")


def test_get_user_by_id_and_upn(sim):
    graph = graph_as(sim)
    assert graph.get(f"/users/{ACCEPTED_GUEST_ID}").json()["id"] == ACCEPTED_GUEST_ID
    assert graph.get(f"/users/megan@{sim.tenant_domain}").json()["id"] == MEMBER_USER_ID


def test_unknown_user_is_404(sim):
    missing = "0b7d9f8e-0000-4000-8000-00000000dead"
    response = graph_as(sim).get(f"/users/{missing}")
    assert error_of(response) == (404, "Request_ResourceNotFound", f"Resource '{missing}' does not exist or one of "
                                  "its queried reference-property objects are not present.")


def test_new_guest_can_be_hidden_from_lookups_until_replicated(sim):
    sim.replication_lag = 30
    sim.graph.replication_hides_lookups = True
    graph = graph_as(sim)
    invited = graph.post("/invitations", {"invitedUserEmailAddress": "late@fabrikam.example",
                                          "inviteRedirectUrl": "https://myapps.microsoft.com"}).json()
    clause = {"$filter": "mail eq 'late@fabrikam.example'"}
    assert ids(graph.get("/users", params=clause)) == []
    assert graph.get(f"/users/{invited['invitedUser']['id']}").status_code == 404
    sim.clock.advance(31)
    assert ids(graph.get("/users", params=clause)) == [invited["invitedUser"]["id"]]
