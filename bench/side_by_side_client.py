"""One client of the side-by-side (bench/side_by_side.py): a fresh process that onboards N new guests into k groups
against the simulator and prints one JSON line. It imports only the standard library at the top, so the
msgraph-sdk client can run in its own virtual environment, which holds neither the app nor its dependencies.

    python bench/side_by_side_client.py CONFIG.json

One onboarding, for every client: look the address up (GET /users with the app's $filter), invite it
(POST /invitations), add the new user to each of k groups (POST /groups/{id}/members/$ref).
- ``app``: this app's functions path: the HTTP ``invite`` function, then ``add_membership`` once per message it
  output (bench/host_model.py: real ``func.HttpRequest`` / ``QueueMessage``), logging at Information as deployed;
- ``sdk``: Microsoft's ``msgraph-sdk`` (``GraphServiceClient`` over httpx, azure-identity ``ClientSecretCredential``):
  one client for the process, one event loop, the same three calls;
- ``seed``: what a first version of such a function does: a new msal app (token request) and a new
  ``requests.Session`` (TLS connection) per onboarding.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def user_filter(email: str) -> str:
    literal = email.replace("'", "''")
    return (f"mail eq '{literal}' or userPrincipalName eq '{literal}' or otherMails/any(x:x eq '{literal}') or "
            f"proxyAddresses/any(x:x eq 'SMTP:{literal}')")


SELECT = ["id", "displayName", "mail", "userPrincipalName", "userType", "externalUserState", "otherMails"]


def app_client(config: dict[str, Any]):
    import logging

    sys.path.insert(0, config["root"])
    root = logging.getLogger()
    root.setLevel(logging.INFO)  # host.json: Information; the worker formats each record and sends it to the host
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: handler.format(record)  # type: ignore[method-assign]
    root.addHandler(handler)
    from azure.functions.queue import QueueMessage

    from bench.host_model import invite, membership_handler

    poison: list[str] = []
    handle = membership_handler(poison)

    def onboard(email: str, groups: list[str]) -> None:
        result = invite(json.dumps({"email": email, "groupIds": groups}).encode())
        if result.status != 201 or len(result.messages) != len(groups):
            raise RuntimeError(f"invite answered {result.status}: {result.body}")
        for number, message in enumerate(result.messages):
            # A new guest's message is first held on the queue for the learned replication delay (shared.lag): a
            # wait, no CPU and no Graph call. The other clients add at once (this simulator has no lag), so the
            # app runs what the held copy will run: the write, as for a guest already old enough.
            fields = {k: v for k, v in json.loads(message).items() if k not in ("newGuest", "invitedAt")}
            body = json.dumps(fields).encode()
            if handle(QueueMessage(id=f"m{number}", body=body, dequeue_count=1)) != "done":
                raise RuntimeError(f"membership poisoned: {poison[-1]}")

    return onboard, lambda: None


def sdk_client(config: dict[str, Any]):
    import asyncio
    import ssl

    import httpx
    from azure.identity import ClientSecretCredential
    from kiota_authentication_azure.azure_identity_authentication_provider import (
        AzureIdentityAuthenticationProvider,
    )
    from msgraph import GraphRequestAdapter, GraphServiceClient
    from msgraph.generated.models.invitation import Invitation
    from msgraph.generated.models.reference_create import ReferenceCreate
    from msgraph.generated.users.users_request_builder import UsersRequestBuilder
    from msgraph.graph_request_adapter import options
    from msgraph_core import GraphClientFactory

    graph = config["graph_endpoint"]
    # azure-identity's token request goes through azure-core's requests transport: REQUESTS_CA_BUNDLE (environment)
    credential = ClientSecretCredential(config["tenant_id"], config["client_id"], config["client_secret"],
                                        authority=config["authority_host"], disable_instance_discovery=True)
    auth = AzureIdentityAuthenticationProvider(credential, scopes=[f"{graph}/.default"],
                                               allowed_hosts=[graph.split("://", 1)[1].split(":")[0]])
    trust = ssl.create_default_context(cafile=config["ca_path"])  # the simulator's CA; verification stays on
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(base_url=f"{graph}/v1.0", verify=trust), options=options)
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = f"{graph}/v1.0"  # httpx's base_url ends in "/", which would make "/v1.0//users"
    client = GraphServiceClient(request_adapter=adapter)
    loop = asyncio.new_event_loop()

    async def onboard_async(email: str, groups: list[str]) -> None:
        query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(filter=user_filter(email), select=SELECT,
                                                                          top=5)
        configuration = UsersRequestBuilder.UsersRequestBuilderGetRequestConfiguration(query_parameters=query)
        found = await client.users.get(request_configuration=configuration)
        if found and found.value:
            raise RuntimeError("expected a new guest")
        invitation = await client.invitations.post(Invitation(
            invited_user_email_address=email, invite_redirect_url=config["redirect_url"],
            send_invitation_message=True))
        user_id = invitation.invited_user.id
        for group in groups:
            await client.groups.by_group_id(group).members.ref.post(
                ReferenceCreate(odata_id=f"{graph}/v1.0/directoryObjects/{user_id}"))

    return (lambda email, groups: loop.run_until_complete(onboard_async(email, groups))), loop.close


def seed_client(config: dict[str, Any]):
    import msal
    import requests

    graph = config["graph_endpoint"]

    def onboard(email: str, groups: list[str]) -> None:
        app = msal.ConfidentialClientApplication(
            config["client_id"], client_credential=config["client_secret"],
            authority=f"{config['authority_host']}/{config['tenant_id']}", instance_discovery=False)
        token = app.acquire_token_for_client([f"{graph}/.default"])["access_token"]
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {token}"
            found = session.get(f"{graph}/v1.0/users", params={"$filter": user_filter(email),
                                                               "$select": ",".join(SELECT), "$top": "5"}, timeout=20)
            found.raise_for_status()
            if found.json()["value"]:
                raise RuntimeError("expected a new guest")
            invited = session.post(f"{graph}/v1.0/invitations", timeout=20, json={
                "invitedUserEmailAddress": email, "inviteRedirectUrl": config["redirect_url"],
                "sendInvitationMessage": True})
            invited.raise_for_status()
            user_id = invited.json()["invitedUser"]["id"]
            for group in groups:
                session.post(f"{graph}/v1.0/groups/{group}/members/$ref", timeout=20,
                             json={"@odata.id": f"{graph}/v1.0/directoryObjects/{user_id}"}).raise_for_status()

    return onboard, lambda: None


def main() -> None:
    config = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    onboard, close = {"app": app_client, "sdk": sdk_client, "seed": seed_client}[config["client"]](config)
    groups, count, tag = config["groups"], int(config["n"]), config["tag"]
    onboard(f"{tag}.first@partner.example", groups)
    first_done = time.time()
    cpu, wall = time.process_time(), time.perf_counter()
    for number in range(count):
        onboard(f"{tag}.{number}@partner{number % 7}.example", groups)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    close()
    print(json.dumps({"first_done": first_done, "cpu_ms": cpu * 1000 / count, "wall_ms": wall * 1000 / count,
                      "rss_kib": rss_kib(), "n": count}))


if __name__ == "__main__":
    main()
