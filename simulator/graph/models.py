"""Graph's state and rules: users, groups, memberships, invitations, the emails they "send", budgets, replication.

Handlers in responses.py parse and render; everything that decides lives here, under one lock.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..errors import GraphError, too_many_requests
from . import exceptions
from .index import UserIndex
from .invitations import InvitationRules, SentEmail
from .throttling import Budget, Windows, default_limits

# Application permissions that satisfy each kind of call, least privileged first (MGDC api/invitation-post.md,
# api/user-list.md, api/group-get.md, api/group-list-members.md, api/group-post-members.md).
PERMISSIONS: dict[str, tuple[str, ...]] = {
    "invite": ("User.Invite.All", "User.ReadWrite.All", "Directory.ReadWrite.All"),
    "reset_redemption": ("User.ReadWrite.All", "Directory.ReadWrite.All"),  # resources/invitation.md
    "read_users": ("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"),
    "read_groups": ("GroupMember.Read.All", "Group.Read.All", "GroupMember.ReadWrite.All", "Group.ReadWrite.All",
                    "Directory.Read.All", "Directory.ReadWrite.All"),
    "write_members": ("GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"),
    "write_groups": ("Group.ReadWrite.All", "Directory.ReadWrite.All"),
    # group-post-members.md: adding to a role-assignable group needs this on top of a member-writing role.
    "write_role_assignable_members": ("RoleManagement.ReadWrite.Directory",),
    "write_sponsors": ("User.ReadWrite.All",),  # user-post-sponsors.md: no higher one
    # user-delete.md and the permissions reference: User.DeleteRestore.All is the least privileged; Directory.
    # ReadWrite.All does not allow deleting users.
    "delete_users": ("User.DeleteRestore.All", "User.ReadWrite.All"),
}

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

# Deterministic ids of the default seed (docs/simulator.md lists them).
PARTNERS_GROUP_ID = "1b5e0c9a-0000-4000-8000-000000000001"
FALCON_GROUP_ID = "1b5e0c9a-0000-4000-8000-000000000002"
FINANCE_GROUP_ID = "1b5e0c9a-0000-4000-8000-000000000003"
DYNAMIC_GROUP_ID = "1b5e0c9a-0000-4000-8000-000000000004"
ROLE_ASSIGNABLE_GROUP_ID = "1b5e0c9a-0000-4000-8000-000000000005"
MEMBER_USER_ID = "2c6f1dab-0000-4000-8000-000000000001"
PENDING_GUEST_ID = "2c6f1dab-0000-4000-8000-000000000002"
ACCEPTED_GUEST_ID = "2c6f1dab-0000-4000-8000-000000000003"
PENDING_GUEST_MAIL = "adele@fabrikam.com"
ACCEPTED_GUEST_MAIL = "lee@northwind.example"
BLOCKED_DOMAIN = "blocked.example"
SEEDED_AGE_SECONDS = 400 * 86400  # a seeded user was created long before any test


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Group:
    id: str
    display_name: str
    allow_guests: bool = True
    dynamic: bool = False
    members: list[str] = field(default_factory=list)
    role_assignable: bool = False  # isAssignableToRole: members need RoleManagement.ReadWrite.Directory too

    def resource(self) -> dict[str, Any]:
        nickname = re.sub(r"[^A-Za-z0-9]", "", self.display_name) or "group"
        return {
            "id": self.id, "displayName": self.display_name, "description": None,
            "groupTypes": ["Unified", "DynamicMembership"] if self.dynamic else ["Unified"],
            "mail": None, "mailEnabled": True, "mailNickname": nickname,
            "securityEnabled": self.role_assignable, "visibility": "Private",
            # Graph answers null for groups created without the property (resources/group.md).
            "isAssignableToRole": True if self.role_assignable else None,
            "membershipRule": 'user.userType -eq "Member"' if self.dynamic else None,
            "membershipRuleProcessingState": "On" if self.dynamic else None,
        }


def guest_upn(address: str, tenant_domain: str) -> str:
    """alice@fabrikam.com -> alice_fabrikam.com#EXT#@contoso.onmicrosoft.com (cloud-facts, user-list.md)."""
    return f"{address.replace('@', '_')}#EXT#@{tenant_domain}"


class GraphBackend:
    """The directory as Graph shows it. Every public method takes the one lock, so handler threads are safe."""

    def __init__(self, sim) -> None:
        self.sim = sim
        self.lock = threading.RLock()
        self.users: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, Group] = {}
        self.invitations: list[dict[str, Any]] = []
        self.emails: list[SentEmail] = []
        self.verified_domains: set[str] = {sim.tenant_domain.lower()}
        self.blocked_domains: set[str] = set()
        self.invitations_allowed = True  # False: the tenant disabled B2B invitations for apps
        # A repeat invitation of an existing guest with sendInvitationMessage: true: "never" emails again (as
        # customize-invitation-api.md says), "pending" only while the guest has not redeemed, "always". Graph's
        # real behaviour is not documented (docs/simulator.md).
        self.repeat_invitation_email = "never"
        # Shapes a membership write meets while its user is not yet replicated, used in turn (exceptions.LAG_ANSWERS).
        self.lag_answers: tuple[str, ...] = ("not-found",)
        self._lag_turn = 0
        self.index = UserIndex()
        self._emails_to: Counter[str] = Counter()  # case-folded address (to or cc) -> emails recorded
        # DELETE members/{id}/$ref for a non-member: "not-found" (404) or "removed-do-not-exist" (400), both seen.
        self.not_member_answer = "not-found"
        self.limits: dict[str, Budget] = default_limits()
        self.member_add_attempts: Counter[tuple[str, str]] = Counter()
        # Requests counted against each budget (throttling on or off; 429s included, as Graph counts arrivals):
        # what benchmarks report as directory writes per membership.
        self.spent: Counter[str] = Counter()
        self.replication_hides_lookups = False  # True: unreplicated users are missing from GET /users too
        self.page_size = 100
        self._windows = Windows()
        self._visible_at: dict[str, float] = {}  # user id -> simulated time it becomes visible to writes
        self.rules = InvitationRules(self)

    # ---- seeding (the API tests and `python -m simulator` use) -----------------------------------------------
    def add_user(self, mail: str, display_name: str | None = None, user_type: str = "Member",
                 other_mails: tuple[str, ...] | list[str] = (), upn: str | None = None,
                 external_user_state: str | None = None, id: str | None = None,
                 creation_type: str | None = None, replicated: bool = True) -> dict[str, Any]:
        """Add a user; seeded users are replicated at once, invited ones only after sim.replication_lag."""
        with self.lock:
            user_id = (id or str(uuid.uuid4())).lower()
            if upn is None:
                upn = mail if user_type == "Member" else guest_upn(mail, self.sim.tenant_domain)
            user = {
                "id": user_id, "displayName": display_name or mail.split("@")[0], "mail": mail,
                "userPrincipalName": upn, "otherMails": list(other_mails), "proxyAddresses": [f"SMTP:{mail}"],
                "userType": user_type, "externalUserState": external_user_state,
                "creationType": creation_type, "givenName": None, "surname": None, "jobTitle": None,
                "mobilePhone": None, "officeLocation": None, "preferredLanguage": None, "businessPhones": [],
                "mailNickname": mail.split("@")[0], "accountEnabled": True,
                # Graph's createdDateTime (whole seconds, UTC): an invited user's is the invitation; a seeded one
                # is given a date long past, as a tenant's existing users have.
                "createdDateTime": _iso(self.sim.clock.now() - (0.0 if not replicated else SEEDED_AGE_SECONDS)),
            }
            if user_id in self.users:
                self.index.remove(self.users[user_id])
            self.users[user_id] = user
            self.index.add(user)
            lag = 0.0 if replicated else float(self.sim.replication_lag)
            self._visible_at[user_id] = self.sim.clock.now() + lag
            return dict(user)

    def add_group(self, display_name: str, id: str | None = None,
                  allow_guests: bool = True, dynamic: bool = False, members: tuple[str, ...] | list[str] = (),
                  role_assignable: bool = False) -> dict[str, Any]:
        with self.lock:
            group = Group((id or str(uuid.uuid4())).lower(), display_name, allow_guests, dynamic,
                          [m.lower() for m in members], role_assignable)
            self.groups[group.id] = group
            return group.resource()

    def members_of(self, group_id: str) -> list[str]:
        with self.lock:
            return list(self.groups[group_id].members)

    def user_by_mail(self, address: str) -> dict[str, Any] | None:
        """The user whose mail, UPN, otherMails or SMTP proxy address is ``address`` (case-insensitive)."""
        with self.lock:
            found = self.index.by_address(address)
            return dict(self.users[found[0]]) if found else None

    def record_email(self, email: SentEmail) -> None:
        with self.lock:
            self.emails.append(email)
            for address in {email.to.casefold(), *(c.casefold() for c in email.cc)}:
                self._emails_to[address] += 1

    def emails_to(self, address: str) -> int:
        """How many invitation emails the simulator "sent" to ``address``, as recipient or cc (case-insensitive)."""
        with self.lock:
            return self._emails_to[address.casefold()]

    def emails_by_address(self) -> dict[str, int]:
        """Every address (case-folded) that was emailed, with how many emails it got (to or cc)."""
        with self.lock:
            return dict(self._emails_to)

    def seed_default(self) -> None:
        domain = self.sim.tenant_domain
        self.verified_domains.add("contoso.com")
        self.blocked_domains.add(BLOCKED_DOMAIN)
        self.add_user(f"megan@{domain}", "Megan Bowen", id=MEMBER_USER_ID)
        self.add_user(PENDING_GUEST_MAIL, "Adele Vance", user_type="Guest", other_mails=[PENDING_GUEST_MAIL],
                      external_user_state="PendingAcceptance", id=PENDING_GUEST_ID, creation_type="Invitation")
        self.add_user(ACCEPTED_GUEST_MAIL, "Lee Gu", user_type="Guest", other_mails=[ACCEPTED_GUEST_MAIL],
                      external_user_state="Accepted", id=ACCEPTED_GUEST_ID, creation_type="Invitation")
        self.add_group("Partners", id=PARTNERS_GROUP_ID, members=[ACCEPTED_GUEST_ID])
        self.add_group("Project Falcon", id=FALCON_GROUP_ID, members=[MEMBER_USER_ID])
        self.add_group("Finance (no guests)", id=FINANCE_GROUP_ID, allow_guests=False, members=[MEMBER_USER_ID])
        self.add_group("All employees (dynamic)", id=DYNAMIC_GROUP_ID, dynamic=True, members=[MEMBER_USER_ID])
        self.add_group("Helpdesk admins (role-assignable)", id=ROLE_ASSIGNABLE_GROUP_ID, role_assignable=True,
                       members=[MEMBER_USER_ID])

    def load_seed(self, data: dict[str, Any]) -> None:
        """{"verifiedDomains": [...], "blockedDomains": [...], "invitationsAllowed": true, "users": [{"mail",
        "displayName", "userType", "otherMails", "userPrincipalName", "externalUserState", "id"}], "groups":
        [{"displayName", "id", "allowGuests", "dynamic", "roleAssignable", "members": [user ids]}]}"""
        self.invitations_allowed = bool(data.get("invitationsAllowed", self.invitations_allowed))
        self.verified_domains.update(d.lower() for d in data.get("verifiedDomains", []))
        self.blocked_domains.update(d.lower() for d in data.get("blockedDomains", []))
        for user in data.get("users", []):
            self.add_user(user["mail"], user.get("displayName"), user.get("userType", "Member"),
                          user.get("otherMails", ()), user.get("userPrincipalName"),
                          user.get("externalUserState"), user.get("id"))
        for group in data.get("groups", []):
            self.add_group(group["displayName"], group.get("id"), group.get("allowGuests", True),
                           group.get("dynamic", False), group.get("members", ()), group.get("roleAssignable", False))

    def summary(self) -> str:
        with self.lock:
            lines = [f"Graph: {len(self.users)} users, {len(self.groups)} groups"]
            lines += [f"  user  {u['id']}  {u['userType']:<6}  {u['mail']}" for u in self.users.values()]
            lines += [f"  group {g.id}  {g.display_name}" for g in self.groups.values()]
            return "\n".join(lines)

    # ---- rules the routes apply ------------------------------------------------------------------------------
    def spend(self, budget: str, scope: str) -> None:
        """Take one request from a budget; raises Graph's 429 with Retry-After when it is spent."""
        with self.lock:
            self.spent[budget] += 1
        if not self.sim.throttling:
            return
        with self.lock:
            retry_after = self._windows.take(budget, scope, self.limits[budget], self.sim.clock.now())
        if retry_after is not None:
            raise too_many_requests(retry_after)

    def replicated(self, user_id: str) -> bool:
        with self.lock:
            return self.sim.clock.now() >= self._visible_at.get(user_id, 0.0)

    def list_users(self, predicate, keys=None) -> list[dict[str, Any]]:
        """Users matching ``predicate``; ``keys`` (from the parsed $filter) narrows the search through the index."""
        with self.lock:
            candidates = self.users.values() if keys is None else [self.users[i] for i in self.index.by_keys(keys)]
            users = [u for u in candidates if not self.replication_hides_lookups or self.replicated(u["id"])]
            return [dict(u) for u in users if predicate(u)]

    def get_user(self, key: str) -> dict[str, Any]:
        with self.lock:
            by_upn = self.index.by_keys([("userPrincipalName", key.casefold())])
            user = self.users.get(key.lower()) or (self.users[by_upn[0]] if by_upn else None)
            if user is None or (self.replication_hides_lookups and not self.replicated(user["id"])):
                raise exceptions.resource_not_found(key)
            return dict(user)

    def get_group(self, group_id: str) -> Group:
        if not GUID.match(group_id):
            raise exceptions.invalid_object_identifier(group_id)
        with self.lock:
            group = self.groups.get(group_id.lower())
            if group is None:
                raise exceptions.resource_not_found(group_id)
            return group

    def add_members(self, group_id: str, user_ids: list[str], roles: set[str] | None = None) -> None:
        """Add users to a group, all or nothing (MGDC api/group-update.md: members@odata.bind). ``roles``: the
        caller's app roles, for the groups that need more than a member-writing one (None: not checked)."""
        with self.lock:
            group = self.get_group(group_id)
            ids = [u.lower() for u in user_ids]
            for user_id in ids:
                self.member_add_attempts[(group.id, user_id)] += 1
            if group.role_assignable and roles is not None and not (
                    roles & set(PERMISSIONS["write_role_assignable_members"])):
                raise exceptions.role_assignable_needs_role_management()
            for user_id, raw in zip(ids, user_ids, strict=True):
                self._check_addable(group, user_id, raw)
            if len(set(ids)) != len(ids):
                raise exceptions.already_member()
            group.members.extend(ids)

    def _check_addable(self, group: Group, user_id: str, raw: str) -> None:
        if not GUID.match(user_id):
            raise exceptions.invalid_object_identifier(raw)
        user = self.users.get(user_id)
        if user is None:
            raise exceptions.resource_not_found(raw)
        if not self.replicated(user_id):
            raise self._lag_answer(raw)
        if group.dynamic:
            # Dynamic groups take no manual members; Graph answers with the generic 403 (CIPP#468, docs/simulator.md).
            raise GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        if user["userType"] == "Guest" and not group.allow_guests:
            raise exceptions.guests_not_allowed()
        if user_id in group.members:
            raise exceptions.already_member()

    def delete_user(self, user_id: str) -> None:
        """Remove a user from the directory, its groups and every sponsor list (user-delete.md)."""
        with self.lock:
            user = self.users.pop(user_id)
            self.index.remove(user)
            self._visible_at.pop(user_id, None)
            for group in self.groups.values():
                if user_id in group.members:
                    group.members.remove(user_id)
            for other in self.users.values():
                if user_id in other.get("sponsors", ()):
                    other["sponsors"].remove(user_id)

    def set_lag_answers(self, names: str | tuple[str, ...] | list[str]) -> None:
        """Which shapes lag takes, in turn: names of exceptions.LAG_ANSWERS, or "all" for every one."""
        chosen = (names,) if isinstance(names, str) else tuple(names)
        unknown = [n for n in chosen if n != "all" and n not in exceptions.LAG_ANSWERS]
        if not chosen or unknown:
            raise ValueError(f"lag answers must be among {sorted(exceptions.LAG_ANSWERS)} or 'all', not {unknown}")
        with self.lock:
            self.lag_answers = chosen
            self._lag_turn = 0

    def _lag_answer(self, raw: str) -> GraphError:
        """The next of ``lag_answers`` (in turn, so a test meets each); "all" stands for every known shape."""
        names = [n for name in self.lag_answers for n in (exceptions.LAG_ANSWERS if name == "all" else [name])]
        name = names[self._lag_turn % len(names)]
        self._lag_turn += 1
        return exceptions.LAG_ANSWERS[name](raw)
