"""The embedded demo tenant: when no tenant is configured, ``invite`` and ``bulk`` run against the local
simulator (simulator/, started in-process) so a newcomer sees the whole flow in one command. Nothing real is
touched, and every run says so on stderr.

"No tenant configured" means neither AZURE_TENANT_ID (app registration) nor IDENTITY_ENDPOINT (the managed
identity the Functions host provides) is set.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TextIO

from shared import app_context

DEMO_REPLICATION_LAG = 5.0  # seconds a new guest stays invisible to membership writes: short, but visible
_SETTINGS = ("AZURE_AUTHORITY_HOST", "GRAPH_ENDPOINT", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET",
             "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD", "REQUESTS_CA_BUNDLE",
             "ALLOWED_GROUP_IDS", "ALLOWED_EMAIL_DOMAINS", "BLOCKED_EMAIL_DOMAINS")


@dataclass(frozen=True)
class DemoGroup:
    id: str
    name: str
    note: str = ""


def demo_groups() -> list[DemoGroup]:
    """The demo tenant's groups (fixed ids of the simulator's default seed), for --help and the banner."""
    try:
        from simulator.graph import models
    except ImportError:  # the simulator is not deployed with the app
        return []
    return [DemoGroup(models.PARTNERS_GROUP_ID, "Partners"),
            DemoGroup(models.FALCON_GROUP_ID, "Project Falcon"),
            DemoGroup(models.FINANCE_GROUP_ID, "Finance", "guests not allowed: shows a refusal"),
            DemoGroup(models.DYNAMIC_GROUP_ID, "All employees", "dynamic: shows a refusal")]


def demo_help() -> str:
    groups = demo_groups()
    if not groups:
        return ""
    lines = ["Without AZURE_TENANT_ID or IDENTITY_ENDPOINT, this runs against an embedded demo tenant (a local",
             "simulator; nothing real is touched). Its groups:"]
    lines += [f"  {group.id}  {group.name}{f'  ({group.note})' if group.note else ''}" for group in groups]
    return "\n".join(lines)


def tenant_configured(environ: Mapping[str, str] = os.environ) -> bool:
    return bool((environ.get("AZURE_TENANT_ID") or "").strip() or (environ.get("IDENTITY_ENDPOINT") or "").strip())


@dataclass
class DemoTenant:
    sim: Any  # simulator.Simulator
    groups: list[DemoGroup]

    def group_name(self, group_id: str) -> str | None:
        return next((group.name for group in self.groups if group.id == group_id), None)


@contextmanager
def embedded_tenant_if_unconfigured(stream: TextIO = sys.stderr, *, replication_lag: float = DEMO_REPLICATION_LAG,
                                    **simulator_options: Any) -> Iterator[DemoTenant | None]:
    """Yield None when a tenant is configured; otherwise start the simulator, point the settings at it for the
    duration (environment + app_context.reset), and yield it."""
    if tenant_configured():
        yield None
        return
    from simulator import Simulator

    with Simulator(seed="default", replication_lag=replication_lag, **simulator_options) as sim:
        tenant = DemoTenant(sim, demo_groups())
        app = sim.identity.default_app
        values = {"AZURE_AUTHORITY_HOST": sim.authority_host, "GRAPH_ENDPOINT": sim.graph_endpoint,
                  "AZURE_TENANT_ID": sim.tenant_id, "AZURE_CLIENT_ID": app.client_id,
                  "AZURE_CLIENT_SECRET": app.secret, "REQUESTS_CA_BUNDLE": str(sim.ca_path),
                  "ALLOWED_GROUP_IDS": ",".join(group.id for group in tenant.groups)}
        saved = {name: os.environ.get(name) for name in _SETTINGS}
        for name in _SETTINGS:
            os.environ.pop(name, None)
        os.environ.update(values)
        app_context.reset()
        _banner(stream, tenant, sim)
        try:
            yield tenant
        finally:
            app_context.reset()
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            stream.write("DEMO TENANT: the run above used the embedded simulator; nothing real was touched.\n")
            stream.flush()


def _banner(stream: TextIO, tenant: DemoTenant, sim: Any) -> None:
    rule = "=" * 96
    lines = [rule,
             " DEMO TENANT - nothing real is touched. No tenant is configured (AZURE_TENANT_ID and IDENTITY_ENDPOINT",
             " are unset), so this runs against the embedded simulator of Entra ID and Microsoft Graph: no invitation",
             f" leaves this machine. Demo tenant {sim.tenant_domain}; new guests replicate in "
             f"{sim.replication_lag:g} s. Its groups:"]
    lines += [f"   {group.id}  {group.name}{f'  ({group.note})' if group.note else ''}" for group in tenant.groups]
    lines += [" To use a real tenant, set the settings in README (AZURE_TENANT_ID, AZURE_CLIENT_ID, ...).", rule]
    stream.write("\n".join(lines) + "\n")
    stream.flush()
