"""Graph's errors for users, invitations and groups, with the codes and texts Graph uses (see docs/simulator.md
for the source of each; where the exact JSON is undocumented the text is the one reported publicly)."""

from __future__ import annotations

from ..errors import GraphError


def resource_not_found(object_id: str) -> GraphError:
    # MGDC api/group-post-members.md troubleshooting; cloud-facts "Unknown or not yet replicated object".
    return GraphError(404, "Request_ResourceNotFound",
                      f"Resource '{object_id}' does not exist or one of its queried reference-property objects "
                      "are not present.")


def invalid_object_identifier(value: str) -> GraphError:
    return GraphError(400, "Request_BadRequest", f"Invalid object identifier '{value}'.")


def already_member() -> GraphError:
    return GraphError(400, "Request_BadRequest",
                      "One or more added object references already exist for the following modified properties: "
                      "'members'.")


def guests_not_allowed() -> GraphError:
    return GraphError(403, "Authorization_RequestDenied",
                      "Guests users are not allowed to join this Unified Group due to policy setting.")


def invalid_filter() -> GraphError:
    return GraphError(400, "BadRequest", "Invalid filter clause")


def unsupported_filter(prop: str) -> GraphError:
    # Operators that need advanced query capabilities (MGDC concepts/aad-advanced-queries.md).
    return GraphError(400, "Request_UnsupportedQuery",
                      f"Unsupported or invalid query filter clause specified for property '{prop}' of resource 'User'.")


def operator_needs_advanced_query(operator: str) -> GraphError:
    # The answer aad-advanced-queries.md shows for endsWith without ConsistencyLevel and $count.
    return GraphError(400, "Request_UnsupportedQuery",
                      f"Operator '{operator}' is not supported because the required parameters might be missing. Try "
                      "adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to "
                      "https://aka.ms/graph-docs/advanced-queries for more information")


def search_needs_eventual() -> GraphError:
    return GraphError(400, "Request_UnsupportedQuery",
                      "Request with $search query parameter only works through MSGraph with a special request header: "
                      "'ConsistencyLevel: eventual'")


def unreadable_json() -> GraphError:
    return GraphError(400, "BadRequest",
                      "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is "
                      "of valid JSON format.")


def bad_request(message: str, code: str = "BadRequest") -> GraphError:
    return GraphError(400, code, message)


def unknown_property(name: str, entity: str) -> GraphError:
    return GraphError(400, "Request_BadRequest", f"Could not find a property named '{name}' on type "
                      f"'microsoft.graph.{entity}'.")


# How Graph answers a membership write naming a user it has created but not yet replicated: each shape is seen in
# production (docs/simulator.md "Replication lag" gives the source of each); GraphBackend.lag_answers picks them.
def _references_do_not_exist(spelling: str) -> GraphError:
    return GraphError(400, "Request_BadRequest",
                      f"One or more added object references {spelling} exist for the following modified properties: "
                      "'members'.")


LAG_ANSWERS = {
    "not-found": resource_not_found,  # 404 Request_ResourceNotFound (the default, as before)
    "do-not-exist": lambda _id: _references_do_not_exist("do not"),
    "dont-exist": lambda _id: _references_do_not_exist("don't"),
    "not-valid-reference": lambda _id: GraphError(400, "Request_BadRequest", "Not a valid reference update."),
    "directory-object-not-found": lambda _id: GraphError(
        404, "Directory_ObjectNotFound", "Unable to read the company information from the directory."),
}


def role_assignable_needs_role_management() -> GraphError:
    # group-post-members.md: a role-assignable group also needs RoleManagement.ReadWrite.Directory; the answer
    # without it is the generic 403 (what public reports show).
    return GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
