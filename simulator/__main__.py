"""``python -m simulator``: run the local tenant until Ctrl-C and print how to point an app at it.

Secrets (the default app's client secret, IDENTITY_HEADER) are never printed: they go to an env file readable
only by you, whose path is printed.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from . import Simulator
from .graph.exceptions import LAG_ANSWERS


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8400,
                        help="base port: login here, Graph +1, managed identity +2, SharePoint +3 (0 = any free)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    parser.add_argument("--seed", type=Path, help="JSON seed file (see docs/simulator.md); default: the demo tenant")
    parser.add_argument("--replication-lag", type=float, default=0.0, metavar="SECONDS",
                        help="simulated seconds a new user stays invisible to membership writes")
    parser.add_argument("--time-scale", type=float, default=1.0, help="simulated seconds per real second")
    parser.add_argument("--no-throttling", action="store_true", help="turn Graph's throttling budgets off")
    parser.add_argument("--token-lifetime", type=int, default=3599, metavar="SECONDS",
                        help="lifetime of issued access tokens")
    parser.add_argument("--workdir", type=Path, help="where to write the CA, certificates and env file "
                                                     "(default: a temporary directory removed at exit)")
    parser.add_argument("--sharepoint-retry-scale", type=_non_negative, default=1.0, metavar="X",
                        help="multiplies SharePoint's 5-minute wait between webhook delivery retries "
                             "(default 1 = as SharePoint; 0.01 = 3 s)")
    parser.add_argument("--lag-answers", nargs="+", default=["not-found"], metavar="SHAPE",
                        choices=[*sorted(LAG_ANSWERS), "all"],
                        help="how a membership write meets replication lag, in turn: "
                             f"{', '.join(sorted(LAG_ANSWERS))} or all (default not-found)")
    parser.add_argument("--mi-token-cache", type=_non_negative, default=0.0, metavar="SECONDS",
                        help="the platform's managed identity token cache: old roles until it expires "
                             "(about 86400 in Azure; default 0 = off)")
    parser.add_argument("--repeat-invitation-email", choices=["never", "pending", "always"], default="never",
                        help="whether a repeat invitation of an existing guest emails again (Graph: undocumented)")
    parser.add_argument("--write-retry-after", type=int, metavar="SECONDS",
                        help="Retry-After once the directory write budget is spent, held that long (e.g. 41, 315)")
    return parser.parse_args(argv)


def apply_graph_options(sim: Simulator, args: argparse.Namespace) -> None:
    """The Graph behaviours chosen on the command line (each documented in docs/simulator.md)."""
    sim.graph.repeat_invitation_email = args.repeat_invitation_email
    if args.write_retry_after is not None:
        sim.graph.limits["directory_writes"].retry_after = args.write_retry_after


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text!r}")
    return value


def env_lines(sim: Simulator) -> dict[str, str]:
    """The settings an app (or a shell) needs to use this tenant, secrets included: for the env file only."""
    app = sim.identity.named.get("default_app")
    values = {
        "AZURE_AUTHORITY_HOST": sim.authority_host,
        "GRAPH_ENDPOINT": sim.graph_endpoint,
        "REQUESTS_CA_BUNDLE": str(sim.ca_path),
        "AZURE_TENANT_ID": sim.tenant_id,
        "IDENTITY_ENDPOINT": sim.identity_endpoint,
        "IDENTITY_HEADER": sim.identity_header,
    }
    if app is not None and getattr(app, "secret", None):
        values |= {"AZURE_CLIENT_ID": app.client_id, "AZURE_CLIENT_SECRET": app.secret}
    return values | sharepoint_settings(sim)


def sharepoint_settings(sim: Simulator) -> dict[str, str]:
    """SHAREPOINT_SITE_URL of the first seeded site (the default seed's /sites/partners) and, when that site has
    exactly one list, SHAREPOINT_LIST_ID."""
    backend = getattr(sim, "sharepoint", None)
    if backend is None or not backend.sites:
        return {}
    site = next(iter(backend.sites.values()))
    values = {"SHAREPOINT_SITE_URL": backend.site_url(site)}
    lists = backend.lists_of(site)
    if len(lists) == 1:
        values["SHAREPOINT_LIST_ID"] = lists[0].id
    return values


def sharepoint_summary(sim: Simulator) -> str:
    """Each seeded site (URL, Graph site id) and its lists (id, title), and the webhook retry schedule."""
    from .sharepoint.delivery import RETRY_INTERVAL

    backend = sim.sharepoint
    lines = ["SharePoint sites:"]
    for site in backend.sites.values():
        lines.append(f"  {backend.site_url(site)}  (Graph site id {backend.site_id(site)})")
        lists = backend.lists_of(site)
        lines += [f"    list {sp_list.id}  {sp_list.display_name!r}" for sp_list in lists]
        if not lists:
            lines.append("    no lists yet (python cli.py sharepoint provision creates the Guest requests list)")
    notifier = backend.notifier
    lines.append(f"  webhook retries: {notifier.retries} x every {RETRY_INTERVAL * notifier.retry_scale:g} s "
                 f"(--sharepoint-retry-scale {notifier.retry_scale:g})")
    return "\n".join(lines)


def grant_sharepoint(sim: Simulator) -> list[str]:
    """Least privilege for the app on the first seeded site, for every seeded principal: Graph's Sites.Selected and
    a ``write`` site grant (docs/sharepoint.md "Permissions"; write also creates the list and its columns, so
    ``cli.py sharepoint provision`` needs nothing broader). Returns one line per grant for the banner."""
    backend = getattr(sim, "sharepoint", None)
    if backend is None or not backend.sites:
        return []
    site = next(iter(backend.sites.values()))
    names = {id(principal): name for name, principal in sim.identity.named.items()}
    lines = []
    for principal in [*sim.identity.apps.values(), *sim.identity.managed_identities.values()]:
        sim.identity.grant(principal.client_id, "Sites.Selected")
        backend.grant(site, principal.client_id, ["write"], names.get(id(principal), principal.display_name))
        lines.append(f"  {names.get(id(principal), principal.display_name)} ({principal.client_id}): "
                     f"Sites.Selected + write on {site.path}")
    return lines


def grants_summary(lines: list[str]) -> str:
    return "\n".join(["SharePoint permissions granted at start (this demo tenant only):", *lines,
                      "  subscribe (SharePoint REST) refuses client-secret tokens: use cert_app or a managed identity"])


def write_env_file(sim: Simulator) -> Path:
    path = sim.workdir / "simulator.env"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.writelines(f"{name}={value}\n" for name, value in env_lines(sim).items())
    return path


def banner(sim: Simulator, env_file: Path, grants: list[str] | None = None) -> str:
    services = [("login (authority host)", sim.authority_host), ("Graph", f"{sim.graph_endpoint}/v1.0"),
                ("managed identity", sim.identity_endpoint)]
    if "sharepoint" in sim._listeners:
        services.append(("SharePoint REST", sim.url("sharepoint")))
    public = {k: v for k, v in env_lines(sim).items() if k not in ("AZURE_CLIENT_SECRET", "IDENTITY_HEADER")}
    lines = ["Local tenant simulator running; Ctrl-C to stop.",
             f"  tenant                  {sim.tenant_id} ({sim.tenant_domain})"]
    lines += [f"  {name:<23} {url}" for name, url in services]
    lines += [f"  CA to trust             {sim.ca_path}", "",
              "Environment (paste into your shell or local.settings.json):"]
    lines += [f"  {name}={value}" for name, value in public.items()]
    lines += [f"  AZURE_CLIENT_SECRET and IDENTITY_HEADER: in {env_file} (not printed; `set -a; . {env_file}`)",
              "", sim.identity.summary()]
    summary = getattr(sim.graph, "summary", None)
    if callable(summary):
        lines += ["", summary()]
    if getattr(sim, "sharepoint", None) is not None:
        lines += ["", sharepoint_summary(sim)]
    if grants:
        lines += ["", grants_summary(grants)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    seed = str(args.seed) if args.seed else "default"
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
    sim = Simulator(seed=seed, replication_lag=args.replication_lag, time_scale=args.time_scale,
                    throttling=not args.no_throttling, token_lifetime=args.token_lifetime, host=args.host,
                    port=args.port, workdir=args.workdir, lag_answers=tuple(args.lag_answers),
                    mi_token_cache=args.mi_token_cache)
    apply_graph_options(sim, args)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        sim.start()
        if getattr(sim, "sharepoint", None) is not None:
            sim.sharepoint.notifier.retry_scale = args.sharepoint_retry_scale
        # The default seed's roles are what the tests assert, so only this demo run adds SharePoint's; a seed file
        # says its own roles (docs/simulator.md "Running it").
        grants = grant_sharepoint(sim) if args.seed is None else []
        print(banner(sim, write_env_file(sim), grants), flush=True)
        while not stop.wait(0.5):  # a timed wait lets Ctrl-C through promptly
            pass
    except KeyboardInterrupt:
        pass
    except OSError as error:  # a port in use, most often
        print(f"simulator: cannot start: {error}", file=sys.stderr)
        return 1
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
