"""A local tenant: Entra ID (client credentials), the App Service managed identity endpoint and Microsoft Graph,
served over real loopback HTTP(S) with a CA of its own.

    with Simulator() as sim:
        sim.authority_host, sim.graph_endpoint, sim.identity_endpoint, sim.identity_header, sim.ca_path
        sim.identity.add_app(roles=[...]); sim.graph.add_group(...); sim.faults.add(status=429, ...)
        sim.stats.count(service="graph"), sim.stats.connections["graph"]
"""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .clock import Clock
from .errors import GraphError, too_many_requests
from .keys import KeySource
from .server import Fault, Faults, Listener, Route, Service, Stats
from .tls import create_certificates
from .tokens import TokenIssuer
from .wire import Request, Response

__all__ = ["Fault", "Route", "Simulator"]

# Deterministic ids for the default (demo) tenant, so docs and `--help` texts can name them.
DEFAULT_TENANT_ID = "7c0f6a5e-4b1d-4c6e-9a55-3d0c2f1b8e01"
DEFAULT_TENANT_DOMAIN = "contoso.onmicrosoft.com"

SERVICE_PORT_OFFSETS = {"login": 0, "graph": 1, "msi": 2, "sharepoint": 3}


class Simulator:
    """Starts the services on loopback; a context manager. All state lives in ``identity`` and ``graph``.

    Where production answers in more than one way, the defaults keep the simulator's earlier behaviour and options
    choose (docs/simulator.md): ``lag_answers`` the shapes replication lag takes on membership writes,
    ``mi_token_cache`` how long the managed identity endpoint keeps a token with its old roles (simulated seconds,
    0 = off), ``fresh_keys`` RSA keys of its own instead of the process-wide ones.
    """

    def __init__(
        self,
        *,
        seed: str | Path | dict[str, Any] | None = "default",
        replication_lag: float = 0.0,
        time_scale: float = 1.0,
        throttling: bool = True,
        token_lifetime: int = 3599,
        host: str = "127.0.0.1",
        port: int = 0,
        random_seed: int | None = None,
        workdir: str | Path | None = None,
        tenant_id: str = DEFAULT_TENANT_ID,
        tenant_domain: str = DEFAULT_TENANT_DOMAIN,
        fresh_keys: bool = False,
        lag_answers: str | tuple[str, ...] = "not-found",
        mi_token_cache: float = 0.0,
    ) -> None:
        from .graph import GraphBackend
        from .identity import IdentityBackend

        self.host = host
        self.port = port
        self.tenant_id = tenant_id
        self.tenant_domain = tenant_domain
        self.replication_lag = replication_lag  # simulated seconds a new user stays invisible to writes
        self.throttling = throttling
        self.token_lifetime = token_lifetime
        self.clock = Clock(time_scale)
        self.faults = Faults(random_seed)
        self.stats = Stats()
        # RSA keys are lent from a process-wide pool (simulator/keys.py) unless fresh_keys: generating them is most
        # of a start's cost. Certificates, the token kid, secrets and the identity header stay per instance.
        self.keys = KeySource(fresh=fresh_keys)
        self.tokens = TokenIssuer(self.keys.key("token-signing"))
        self.identity_header = secrets.token_hex(16)  # what the host puts in IDENTITY_HEADER
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="graph-sim-"))
        self.identity = IdentityBackend(self)
        self.graph = GraphBackend(self)
        self.graph.set_lag_answers(lag_answers)
        self.identity.mi_token_cache = mi_token_cache
        self._listeners: dict[str, Listener] = {}
        self._seed = seed
        self.ca_path: Path | None = None

    # ---- lifecycle -------------------------------------------------------------------------------------------
    def _services(self) -> list[Service]:
        from .graph import graph_routes
        from .identity import login_routes, msi_routes

        services = [
            Service("login", login_routes(self.identity), request_id_headers=("x-ms-request-id",)),
            Service("graph", graph_routes(self.graph), request_id_headers=("request-id",)),
            Service("msi", msi_routes(self.identity), tls=False, request_id_headers=("x-ms-request-id",)),
        ]
        try:  # SharePoint (Graph sites/lists/items + SharePoint REST) plugs into the same tenant when present
            from .sharepoint import SharePointBackend, sharepoint_graph_routes, sharepoint_rest_routes
        except ImportError:
            return services
        self.sharepoint = SharePointBackend(self)
        services[1].add_routes(sharepoint_graph_routes(self.sharepoint))
        return [*services, Service("sharepoint", sharepoint_rest_routes(self.sharepoint),
                                   request_id_headers=("request-id", "SPRequestGuid"))]

    def start(self) -> Simulator:
        files = create_certificates(self.workdir / "tls", keys=self.keys)
        self.ca_path = files.ca_path
        context = files.server_context()
        for service in self._services():
            port = self.port + SERVICE_PORT_OFFSETS.get(service.name, 9) if self.port else 0
            listener = Listener(service, self.host, port, stats=self.stats, faults=self.faults,
                                tls_context=context, fault_response=self._fault_response)
            listener.start()
            self._listeners[service.name] = listener
        self._apply_seed(self._seed)
        return self

    def stop(self) -> None:
        if getattr(self, "sharepoint", None) is not None:
            self.sharepoint.stop()  # its notifier thread
        for listener in self._listeners.values():
            listener.stop()
        self._listeners.clear()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- addresses -------------------------------------------------------------------------------------------
    def url(self, service: str) -> str:
        return self._listeners[service].base_url

    @property
    def authority_host(self) -> str:
        """What AZURE_AUTHORITY_HOST is set to: https://localhost:PORT (authority = host + '/' + tenant)."""
        return self.url("login")

    @property
    def graph_endpoint(self) -> str:
        """What GRAPH_ENDPOINT is set to; Graph answers under /v1.0 there."""
        return self.url("graph")

    @property
    def identity_endpoint(self) -> str:
        """What the Functions host puts in IDENTITY_ENDPOINT (plain http on loopback, as on App Service)."""
        return self.url("msi") + "/msi/token"

    # ---- seed data -------------------------------------------------------------------------------------------
    def _apply_seed(self, seed: str | Path | dict[str, Any] | None) -> None:
        if seed is None:
            return
        sharepoint = getattr(self, "sharepoint", None)
        if seed == "default":
            self.identity.seed_default()
            self.graph.seed_default()
            if sharepoint is not None:
                sharepoint.seed_default()
            return
        data = seed if isinstance(seed, dict) else json.loads(Path(seed).read_text(encoding="utf-8"))
        self.identity.load_seed(data.get("identity", {}))
        self.graph.load_seed(data.get("graph", {}))
        if sharepoint is not None:
            sharepoint.load_seed(data.get("sharepoint", {}))

    # ---- faults --------------------------------------------------------------------------------------------
    def _fault_response(self, request: Request, fault: Fault) -> Response:
        if request.service == "msi":
            from .identity.exceptions import managed_identity_fault

            raise managed_identity_fault(fault.status or 500, fault.retry_after)
        if fault.status == 429:
            raise too_many_requests(fault.retry_after)
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        codes = {503: ("serviceNotAvailable", "The service is temporarily unavailable. Please retry later."),
                 504: ("gatewayTimeout", "The gateway did not receive a response in time."),
                 500: ("generalException", "An unspecified error has occurred.")}
        code, message = codes.get(fault.status or 500, ("generalException", "An unspecified error has occurred."))
        raise GraphError(fault.status or 500, code, message, headers)
